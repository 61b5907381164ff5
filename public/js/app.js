// @ts-check
/**
 * The live page: which instance this browser's socket is on, a room whose messages say which
 * instance took each POST, and every instance of the cluster. It follows the room with the
 * client recipe of docs/realtime.md (room-feed.js), so it misses nothing across reloads.
 */
import { rowsFromClusterInfo } from './cluster-view.js';
import { followRoom } from './room-feed.js';

/** @typedef {import('./room-feed.js').Message} Message */
/** @typedef {import('./cluster-view.js').InstanceRow} InstanceRow */
/** @typedef {import('socket.io-client').Socket} Socket */
/** @typedef {{ instanceId: number, pid: number, user: string }} Hello */

// The Socket.IO browser client (vendor/socket.io/socket.io.min.js) defines a global `io`.
const { io } = /** @type {{ io: typeof import('socket.io-client').io }} */ (/** @type {unknown} */ (window));

const REFRESH_MS = 3000;
const MAX_SHOWN = 1000;
const TOKEN_KEY = 'epc.token';
const USER_KEY = 'epc.user';

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function element(id, type) {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`#${id} missing`);
  return found;
}

const ui = {
  connection: element('connection', HTMLElement),
  signedIn: element('signed-in', HTMLElement),
  userLabel: element('user-label', HTMLElement),
  signOut: element('sign-out', HTMLButtonElement),
  apiProblem: element('api-problem', HTMLElement),
  signIn: element('sign-in', HTMLElement),
  signInReason: element('sign-in-reason', HTMLElement),
  devForm: element('dev-sign-in', HTMLFormElement),
  userName: element('user-name', HTMLInputElement),
  tokenForm: element('token-sign-in', HTMLFormElement),
  tokenInput: element('token', HTMLInputElement),
  joinForm: element('join-form', HTMLFormElement),
  roomName: element('room-name', HTMLInputElement),
  roomLabel: element('room-label', HTMLElement),
  roomStatus: element('room-status', HTMLElement),
  messages: element('messages', HTMLOListElement),
  postForm: element('post-form', HTMLFormElement),
  messageBody: element('message-body', HTMLInputElement),
  postStatus: element('post-status', HTMLElement),
  clusterStatus: element('cluster-status', HTMLElement),
  instances: /** @type {HTMLTableSectionElement} */ (element('instances', HTMLTableElement).tBodies[0]),
};

/** @type {{ token: string | undefined, socket: Socket | undefined, feed: ReturnType<typeof followRoom> | undefined, room: string, served: Hello | undefined }} */
const state = { token: undefined, socket: undefined, feed: undefined, room: ui.roomName.value, served: undefined };

// ---------------------------------------------------------------- HTTP

class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * Fetches from the API. A network failure shows the API as down; an error answer throws an
 * ApiError carrying the server's own message.
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
async function api(path, init) {
  let res;
  try {
    res = await fetch(path, init);
  } catch (error) {
    showApiProblem(`The API is not answering (${error instanceof Error ? error.message : String(error)}). Retrying…`);
    throw error;
  }
  showApiProblem(undefined);
  if (!res.ok) {
    const body = /** @type {{ error?: { message?: string } }} */ (await readJson(res).catch(() => ({})));
    throw new ApiError(res.status, body.error?.message ?? `HTTP ${res.status}`);
  }
  return res;
}

/**
 * A JSON body, typed by the caller's cast (an `any` would pass unchecked).
 * @param {Response} res
 * @returns {Promise<unknown>}
 */
const readJson = (res) => res.json();

/** @param {string | undefined} text */
function showApiProblem(text) {
  ui.apiProblem.hidden = text === undefined;
  if (text !== undefined && ui.apiProblem.textContent !== text) ui.apiProblem.textContent = text;
}

// ---------------------------------------------------------------- connection

/**
 * @param {'connecting' | 'connected' | 'reconnecting' | 'refused' | 'signed-out'} kind
 * @param {string} text
 */
function setConnection(kind, text) {
  ui.connection.dataset.state = kind;
  ui.connection.textContent = text;
  // For scripts and tests: the pid serving the socket, while connected.
  if (kind === 'connected' && state.served) ui.connection.dataset.pid = String(state.served.pid);
  else delete ui.connection.dataset.pid;
}

/** @param {string} token */
function connect(token) {
  disconnect();
  state.token = token;
  setConnection('connecting', 'Connecting…');
  // WebSocket only: behind PM2's round-robin, polling requests would reach other instances (docs/realtime.md).
  const socket = io({ transports: ['websocket'], auth: { token } });
  state.socket = socket;

  socket.on('hello', (/** @type {Hello} */ hello) => {
    state.served = hello;
    setConnection('connected', `Connected to instance ${hello.instanceId} · pid ${hello.pid}`);
    ui.signedIn.hidden = false;
    ui.userLabel.textContent = hello.user;
    ui.signIn.hidden = true;
    markServedRow();
  });
  socket.on('disconnect', (reason) => {
    state.served = undefined;
    ui.messages.setAttribute('aria-busy', 'true');
    ui.roomStatus.textContent = `Connection lost: ${state.room} will be rejoined, and what was missed caught up, once it is back.`;
    setConnection('reconnecting', `Disconnected (${reason}); reconnecting…`);
    markServedRow();
  });
  socket.io.on('reconnect_attempt', (attempt) => {
    setConnection('reconnecting', `Reconnecting… (attempt ${attempt})`);
  });
  socket.on('connect_error', (/** @type {Error & { data?: { code?: string } }} */ error) => {
    // A refused token is final: sign in again. Any other refusal (the per-user socket cap, a
    // server that cannot serve now) the room feed retries with back-off (room-feed.js).
    if (!socket.active && error.data?.code === 'UNAUTHORIZED') {
      setConnection('refused', `Refused: ${error.message}`);
      void showSignIn(`The server refused the connection: ${error.message}`);
      return;
    }
    if (!socket.active) {
      setConnection('reconnecting', `Refused for now (${error.message}); retrying…`);
      return;
    }
    setConnection('reconnecting', `Cannot reach the server (${error.message}); retrying…`);
  });
  followRoomOnSocket(socket, state.room);
}

function disconnect() {
  state.feed?.stop();
  state.feed = undefined;
  state.socket?.close();
  state.socket = undefined;
  state.served = undefined;
}

// ---------------------------------------------------------------- sign-in

/** @type {'dev' | 'token' | undefined} */
let signInMode;

/**
 * 'token' in production, where the development token route does not exist; otherwise 'dev'
 * (and 'token' after all if that route answers 404, e.g. with DEBUG_ROUTES=false).
 * @returns {Promise<'dev' | 'token'>}
 */
async function signInModeOfServer() {
  if (signInMode) return signInMode;
  try {
    const status = /** @type {{ environment?: string }} */ (await readJson(await api('/api/status')));
    signInMode = status.environment === 'production' ? 'token' : 'dev';
    return signInMode;
  } catch {
    return 'dev'; // API down: ask again next time
  }
}

/** @param {string} [reason] */
async function showSignIn(reason) {
  const mode = await signInModeOfServer();
  ui.signIn.hidden = false;
  ui.signInReason.hidden = reason === undefined;
  ui.signInReason.textContent = reason ?? '';
  ui.devForm.hidden = mode !== 'dev';
  ui.tokenForm.hidden = mode !== 'token';
  (mode === 'dev' ? ui.userName : ui.tokenInput).focus();
}

/** Development sign-in: a token for the name, from the server's development route. @param {string} user */
async function devSignIn(user) {
  let res;
  try {
    res = await api('/api/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      signInMode = 'token';
      await showSignIn('This server issues no development tokens: sign in with a token.');
    } else await showSignIn(`Sign-in failed: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  const { token } = /** @type {{ token: string }} */ (await readJson(res));
  localStorage.setItem(USER_KEY, user);
  sessionStorage.setItem(TOKEN_KEY, token);
  connect(token);
}

ui.devForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void devSignIn(ui.userName.value.trim());
});

ui.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = ui.tokenInput.value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  connect(token);
});

ui.signOut.addEventListener('click', () => {
  disconnect();
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = undefined;
  ui.signedIn.hidden = true;
  setConnection('signed-out', 'Signed out');
  void showSignIn();
});

// ---------------------------------------------------------------- room

/**
 * @param {Socket} socket
 * @param {string} room
 */
function followRoomOnSocket(socket, room) {
  state.feed?.stop();
  state.room = room;
  ui.roomLabel.textContent = room;
  ui.messages.replaceChildren();
  ui.messages.setAttribute('aria-busy', 'true');
  ui.roomStatus.textContent = `Joining ${room}…`;
  state.feed = followRoom({
    socket,
    room,
    getPage: async (path) => /** @type {import('./room-feed.js').MessagePage} */ (await readJson(await api(path))),
    onMessage: showMessage,
    onStatus: (status) => {
      if (status.error) {
        ui.roomStatus.textContent = status.error;
        return;
      }
      if (!status.joined) return;
      ui.messages.setAttribute('aria-busy', 'false');
      ui.roomStatus.textContent = status.replayed === undefined ? `Joined ${room}.` : `Rejoined ${room}; ${status.replayed} missed message${status.replayed === 1 ? '' : 's'} caught up.`;
    },
  });
}

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const room = ui.roomName.value.trim();
  if (state.socket) followRoomOnSocket(state.socket, room);
  else state.room = room;
});

/** @param {Message} message */
function showMessage(message) {
  const item = document.createElement('li');
  item.className = 'message';
  item.dataset.id = String(message.id);

  const meta = document.createElement('div');
  meta.className = 'meta';
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = message.author;
  const time = document.createElement('time');
  time.dateTime = message.createdAt;
  time.textContent = new Date(message.createdAt).toLocaleTimeString();
  const origin = document.createElement('span');
  origin.className = 'origin';
  if (message.origin) {
    origin.dataset.pid = String(message.origin.pid);
    origin.textContent = `via instance ${message.origin.instanceId} · pid ${message.origin.pid}`;
    if (state.served && message.origin.pid !== state.served.pid) {
      origin.classList.add('crossed');
      origin.textContent += ' (another instance)';
    }
  } else {
    origin.classList.add('history');
    origin.textContent = 'from history';
  }
  meta.append(author, ' ', time, ' ', origin);
  const body = document.createElement('p');
  body.className = 'body';
  body.textContent = message.body;
  item.append(meta, body);

  // In id order: a live message can arrive before older ones replayed after a reconnect.
  const list = ui.messages;
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  let before = /** @type {Element | null} */ (null);
  for (let other = list.lastElementChild; other && Number(/** @type {HTMLElement} */ (other).dataset.id) > message.id; other = other.previousElementSibling) before = other;
  list.insertBefore(item, before);
  while (list.childElementCount > MAX_SHOWN) list.firstElementChild?.remove();
  if (nearBottom && before === null) list.scrollTop = list.scrollHeight;
}

ui.postForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const body = ui.messageBody.value;
  if (!state.token) {
    ui.postStatus.textContent = 'Sign in to post.';
    return;
  }
  void (async () => {
    try {
      const res = await api(`/api/rooms/${encodeURIComponent(state.room)}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${state.token ?? ''}` },
        body: JSON.stringify({ body }),
      });
      const stored = /** @type {Message} */ (await readJson(res));
      ui.messageBody.value = '';
      ui.postStatus.textContent = `Sent (#${stored.id}, taken by instance ${res.headers.get('x-instance-id') ?? '?'}).`;
    } catch (error) {
      ui.postStatus.textContent = `Not sent: ${error instanceof Error ? error.message : String(error)}`;
      if (error instanceof ApiError && error.status === 401) void showSignIn(`The server refused the token: ${error.message}`);
    }
  })();
});

// ---------------------------------------------------------------- instances

/** @returns {Promise<InstanceRow[]>} */
async function loadRows() {
  // In production the members are shown only to a signed-in caller (docs/security.md).
  const init = state.token ? { headers: { authorization: `Bearer ${state.token}` } } : undefined;
  return rowsFromClusterInfo(/** @type {{ members?: import('./cluster-view.js').Member[] }} */ (await readJson(await api('/api/cluster-info', init))));
}

/** @param {number | undefined} seconds */
function formatUptime(seconds) {
  if (seconds === undefined) return '—';
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** @param {number | undefined} value @param {(n: number) => string} [format] */
const show = (value, format = String) => (value === undefined ? '—' : format(value));

/** @param {InstanceRow[]} rows */
function renderRows(rows) {
  ui.instances.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.pid = show(row.pid);
      tr.dataset.instanceId = String(row.instanceId);
      const cells = [
        row.role,
        String(row.instanceId),
        row.host,
        show(row.pid),
        formatUptime(row.uptimeSeconds),
        show(row.rssBytes, (b) => `${(b / 1048576).toFixed(1)} MB`),
        show(row.requestsPerSecond, (r) => r.toFixed(1)),
        show(row.sockets),
        show(row.poolInUse),
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement(index === 1 ? 'th' : 'td');
        if (index === 1) cell.setAttribute('scope', 'row');
        if (index >= 4) cell.className = 'num';
        cell.textContent = text;
        tr.append(cell);
      });
      return tr;
    }),
  );
  markServedRow();
}

/** Marks the row of the instance serving this page's socket (by instance id where the row has no pid). */
function markServedRow() {
  const { served: hello } = state;
  for (const tr of ui.instances.rows) {
    const served = hello !== undefined && (tr.dataset.pid === '—' ? tr.dataset.instanceId === String(hello.instanceId) : tr.dataset.pid === String(hello.pid));
    tr.classList.toggle('served', served);
    const label = tr.cells[1];
    if (!label) continue;
    label.textContent = (tr.dataset.instanceId ?? '') + (served ? ' (you)' : '');
  }
}

async function refreshInstances() {
  try {
    const rows = await loadRows();
    renderRows(rows);
    ui.clusterStatus.textContent = `${rows.length} process${rows.length === 1 ? '' : 'es'} · updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    ui.clusterStatus.textContent = `Not updated: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    setTimeout(() => void refreshInstances(), REFRESH_MS);
  }
}

// ---------------------------------------------------------------- start

async function start() {
  void refreshInstances();
  ui.userName.value = localStorage.getItem(USER_KEY) ?? `guest-${Math.random().toString(36).slice(2, 6)}`;
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) connect(saved);
  else if ((await signInModeOfServer()) === 'dev') await devSignIn(ui.userName.value);
  else {
    // Production: no token route, so the page asks for a token.
    setConnection('signed-out', 'Not signed in');
    await showSignIn();
  }
}

void start();
