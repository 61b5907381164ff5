import assert from 'node:assert/strict';
import { hostname, networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { createTokenService } from '../src/auth/jwt.js';
import type { StoredMessage } from '../src/messages/schema.js';
import { startTestApi, type TestApi } from './helpers/api.js';
import { contrastFailures, launchChromium, pageErrors, screenshot } from './helpers/browser.js';
import { startCluster, type Cluster } from './helpers/cluster.js';
import { createTestDatabase, sleep, TEST_JWT_SECRET, waitFor, type TestDatabase } from './helpers/services.js';
import { postMessage } from './helpers/realtime.js';

/** The live page at `/`, in headless Chromium against a real PM2 cluster and in-process instances. */

const tokens = createTokenService(TEST_JWT_SECRET);

let db: TestDatabase;
let browser: Browser;
before(async () => {
  db = await createTestDatabase({ migrated: true });
  browser = await launchChromium();
});
after(async () => {
  await browser.close();
  await db.drop();
});

/** Opens the page and waits until its socket is connected; returns the pid serving it. */
async function openPage(context: BrowserContext, url: string): Promise<{ page: Page; pid: number; errors: string[] }> {
  const page = await context.newPage();
  const errors = pageErrors(page);
  await page.goto(url);
  const pid = await servedPid(page);
  return { page, pid, errors };
}

async function servedPid(page: Page): Promise<number> {
  await page.locator('#connection[data-state="connected"][data-pid]').waitFor({ timeout: 20_000 });
  return Number(await page.locator('#connection').getAttribute('data-pid'));
}

async function joinRoom(page: Page, room: string): Promise<void> {
  await page.getByLabel('Room name').fill(room);
  await page.getByLabel('Room name').press('Enter');
  await page.locator('#room-label', { hasText: room }).waitFor();
  await page.locator('#messages[aria-busy="false"]').waitFor({ timeout: 20_000 });
}

/** An attribute of every element a locator matches, in page order (evaluated in the page, where the DOM is). */
async function attributes(locator: Locator, name: string): Promise<string[]> {
  type WithAttributes = { getAttribute(name: string): string | null };
  return locator.evaluateAll((elements: WithAttributes[], attribute: string) => elements.map((e) => e.getAttribute(attribute) ?? ''), name);
}

/** The message ids the page shows, top to bottom. */
async function shownIds(page: Page): Promise<number[]> {
  return (await attributes(page.locator('#messages li'), 'data-id')).map(Number);
}

describe('the live page on a PM2 cluster of 2', () => {
  let cluster: Cluster;
  const contexts: BrowserContext[] = [];
  before(async () => {
    // The reload test writes continuously, far over the default per-user write limit.
    cluster = await startCluster({ instances: 2, databaseUrl: db.url, apiOnly: true, env: { WRITE_RATE_LIMIT: '0' } });
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await cluster.stop();
  });
  async function newContext(options: Parameters<Browser['newContext']>[0] = {}): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
    contexts.push(context);
    return context;
  }

  it('two browsers whose sockets are on different instances exchange a message, each marked with the instance that took the POST', async () => {
    const a = await openPage(await newContext(), cluster.baseUrl);
    const bContext = await newContext();
    let b = await openPage(bContext, cluster.baseUrl);
    // PM2 hands each new connection to the next instance: reload until B's socket is on the other one.
    for (let tries = 0; b.pid === a.pid && tries < 20; tries += 1) {
      await b.page.reload();
      b = { ...b, pid: await servedPid(b.page) };
    }
    assert.notEqual(b.pid, a.pid, 'the two sockets are on different instances');
    const pids = new Set((await cluster.jlist()).filter((p) => p.name === 'api').map((p) => p.pid));

    await joinRoom(a.page, 'e2e-exchange');
    await joinRoom(b.page, 'e2e-exchange');
    // Keyboard only: type into the message box and press Enter.
    await a.page.getByLabel('Message', { exact: true }).fill('hello from A');
    await a.page.getByLabel('Message', { exact: true }).press('Enter');
    const inB = b.page.locator('#messages li', { hasText: 'hello from A' });
    await inB.waitFor({ timeout: 10_000 });
    const origin = Number(await inB.locator('.origin').getAttribute('data-pid'));
    assert.ok(pids.has(origin), `marked with an API instance's pid (${origin} of ${[...pids].join(', ')})`);

    await b.page.getByLabel('Message', { exact: true }).fill('and hello back from B');
    await b.page.getByRole('button', { name: 'Send' }).click();
    await a.page.locator('#messages li', { hasText: 'and hello back from B' }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await shownIds(a.page), await shownIds(b.page), 'both show the same messages in the same order');

    // The screenshot once the table has had two refreshes (requests/s needs two samples).
    await waitFor('requests/s in the table', async () => !(await a.page.locator('#instances tbody td:nth-child(7)').allTextContents()).includes('—'), 15_000, 250);

    console.log(`# screenshot: ${await screenshot(a.page, 'live-page.png')}`);
    assert.deepEqual(await contrastFailures(a.page), [], 'text contrast (WCAG AA)');
    assert.deepEqual([...a.errors, ...b.errors], [], 'no console error (a CSP violation would be one)');
  });

  it('lists every instance in the table with its host and memory, and marks the one serving the socket', async () => {
    const { page, pid } = await openPage(await newContext(), cluster.baseUrl);
    const api = (await cluster.jlist()).filter((p) => p.name === 'api');
    const instanceIds = api.map((p) => String(p.pm2_env.NODE_APP_INSTANCE)).sort();
    const rows = page.locator('#instances tbody tr');
    const rowIds = async () => (await attributes(rows, 'data-instance-id')).sort();
    await waitFor('a row for every instance', async () => JSON.stringify(await rowIds()) === JSON.stringify(instanceIds), 20_000, 250).catch(async (error: unknown) => {
      throw new Error(`rows ${JSON.stringify(await rowIds())}, instances ${JSON.stringify(instanceIds)}: ${String(error)}`);
    });
    // A pid shown is a live instance's pid (until the cluster-wide membership lists them all, some may be unknown: "—").
    const apiPids = new Set(api.map((p) => String(p.pid)));
    for (const shown of await attributes(rows, 'data-pid')) assert.ok(shown === '—' || apiPids.has(shown), `pid ${shown}`);

    const served = page.locator('#instances tbody tr.served');
    assert.equal(await served.count(), 1);
    const servedInstance = api.find((p) => p.pid === pid)?.pm2_env.NODE_APP_INSTANCE;
    assert.equal(await served.getAttribute('data-instance-id'), String(servedInstance));
    // The table refreshes every 3 s from heartbeats sent every second: its first load may predate
    // this page's socket, so the count is read once a refresh has had the time to include it.
    const clientsCell = served.locator('th, td').nth(7);
    await waitFor("this page's socket in its instance's count", async () => Number(await clientsCell.textContent()) >= 1, 10_000, 250).catch(() => undefined);
    const cells = await served.locator('th, td').allTextContents();
    assert.match(cells[1] ?? '', /\(you\)/);
    assert.equal(cells[2], hostname());
    assert.match(cells[5] ?? '', /^\d+\.\d MB$/, 'memory');
    assert.ok(Number(cells[7]) >= 1, `its Socket.IO clients include this page's (${cells[7] ?? ''})`);
  });

  it('reconnects during a pm2 reload and shows every message of the room once, in order, with no gap', async () => {
    const { page, pid, errors } = await openPage(await newContext(), cluster.baseUrl);
    await joinRoom(page, 'e2e-reload');
    const token = await tokens.sign('writer');
    const posted: number[] = [];
    const state = { writing: true };
    const writer = (async () => {
      for (let n = 0; state.writing; n += 1) {
        const res = await postMessage(cluster.baseUrl, 'e2e-reload', { body: `during reload ${n}` }, token, { timeoutMs: 10_000 }).catch(() => undefined);
        if (res?.status === 201) posted.push(((await res.json()) as StoredMessage).id);
        await sleep(30);
      }
    })();
    try {
      await waitFor('messages before the reload', () => posted.length >= 10, 20_000, 50);
      await cluster.pm2('reload', 'api');
      const count = posted.length;
      await waitFor('messages after the reload', () => posted.length >= count + 10, 20_000, 50);
    } finally {
      state.writing = false;
      await writer;
    }
    const newPid = await servedPid(page);
    assert.notEqual(newPid, pid, 'the page reconnected to a new instance');
    const stored = await (async () => {
      const res = await fetch(`${cluster.baseUrl}/api/rooms/e2e-reload/messages?after=0&limit=100`);
      const first = (await res.json()) as { messages: StoredMessage[]; nextCursor: number | null };
      const ids = first.messages.map((m) => m.id);
      for (let cursor = first.nextCursor; cursor !== null; ) {
        const next = (await (await fetch(`${cluster.baseUrl}/api/rooms/e2e-reload/messages?after=${cursor}&limit=100`)).json()) as typeof first;
        ids.push(...next.messages.map((m) => m.id));
        cursor = next.nextCursor;
      }
      return ids;
    })();
    for (const id of posted) assert.ok(stored.includes(id));
    await waitFor('the page to show every stored message', async () => (await shownIds(page)).length >= stored.length, 20_000, 200).catch(() => undefined);
    assert.deepEqual(await shownIds(page), stored, 'every stored message once, in id order');
    assert.match(await page.locator('#room-status').textContent() ?? '', /^Rejoined e2e-reload; \d+ missed messages? caught up/);
    // Reconnect attempts that reach a draining instance may fail; nothing else may.
    assert.deepEqual(errors.filter((e) => !/^WebSocket connection to .* failed/.test(e)), []);
  });

  it('fits a phone-width screen without sideways scrolling', async () => {
    const { page } = await openPage(await newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }), cluster.baseUrl);
    await joinRoom(page, 'e2e-exchange');
    await page.locator('#instances tbody tr').first().waitFor();
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    for (const name of ['Message', 'Room name']) assert.ok(await page.getByLabel(name, { exact: true }).isVisible());
    assert.ok(await page.getByRole('button', { name: 'Send' }).isVisible());
    console.log(`# screenshot: ${await screenshot(page, 'live-page-phone.png')}`);
  });
});

describe('serving the page', () => {
  const apis: TestApi[] = [];
  after(async () => {
    for (const api of apis) await api.stop();
  });
  async function serve(env: Record<string, string> = {}): Promise<TestApi> {
    const api = await startTestApi(db.url, env);
    apis.push(api);
    return api;
  }

  it('serves the page at / under a CSP that allows only same-origin scripts and connections, and the Socket.IO browser client', async () => {
    const api = await serve();
    const res = await fetch(`${api.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await res.text(), /<script type="module" src="js\/app.js"><\/script>/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /script-src-attr 'none'/);
    const client = await fetch(`${api.url}/vendor/socket.io/socket.io.min.js`);
    assert.equal(client.status, 200);
    assert.match(client.headers.get('content-type') ?? '', /javascript/);
    // A missing file is the API's JSON 404, not a page.
    assert.equal((await fetch(`${api.url}/nope.js`)).status, 404);
  });

  it('hands out development tokens outside production only, never in production even with DEBUG_ROUTES=true', async () => {
    const dev = await serve();
    const res = await fetch(`${dev.url}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'dora' }) });
    assert.equal(res.status, 200);
    const { token, user } = (await res.json()) as { token: string; user: string };
    assert.equal(user, 'dora');
    assert.equal((await tokens.verify(token)).user, 'dora');
    const bad = await fetch(`${dev.url}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'no spaces' }) });
    assert.equal(bad.status, 400);

    const refusing: Record<string, string>[] = [{ NODE_ENV: 'production' }, { NODE_ENV: 'production', DEBUG_ROUTES: 'true' }, { DEBUG_ROUTES: 'false' }];
    for (const env of refusing) {
      const api = await serve(env);
      const refused = await fetch(`${api.url}/api/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'dora' }) });
      assert.equal(refused.status, 404, JSON.stringify(env));
    }
  });
});

describe('the live page over plain HTTP from another machine', () => {
  // A non-loopback address of this machine: Chromium treats localhost as secure, other hosts not.
  const address = Object.values(networkInterfaces())
    .flat()
    .find((i) => i?.family === 'IPv4' && !i.internal)?.address;

  it('loads and connects (no CSP upgrade of its own files to https)', { skip: address === undefined && 'no non-loopback IPv4 address' }, async () => {
    const api = await startTestApi(db.url, { HOST: address ?? '' });
    const context = await browser.newContext();
    try {
      const { errors } = await openPage(context, `http://${address ?? ''}:${api.address.port}/`);
      // Chromium notes that it ignores helmet's Cross-Origin-Opener-Policy on plain HTTP; nothing else may fail.
      assert.deepEqual(errors.filter((e) => !e.startsWith('The Cross-Origin-Opener-Policy header has been ignored')), []);
    } finally {
      await context.close();
      await api.stop();
    }
  });
});

describe('the live page when signing in fails or the API goes away', () => {
  it('in production asks for a token, shows the server\'s reason for refusing a bad one, and connects with a good one', async () => {
    const api = await startTestApi(db.url, { NODE_ENV: 'production' });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(api.url);
      const tokenField = page.getByLabel('Access token');
      await tokenField.waitFor();
      assert.equal(await page.locator('#dev-sign-in').isVisible(), false, 'no development sign-in in production');
      await tokenField.fill('not-a-token');
      await tokenField.press('Enter');
      await page.locator('#connection[data-state="refused"]').waitFor({ timeout: 10_000 });
      assert.match(await page.locator('#connection').textContent() ?? '', /Invalid or expired token/);
      assert.match(await page.getByRole('alert').filter({ hasText: 'refused' }).textContent() ?? '', /Invalid or expired token/);

      await tokenField.fill(await tokens.sign('olga'));
      await tokenField.press('Enter');
      await servedPid(page);
      assert.equal(await page.locator('#user-label').textContent(), 'olga');
      assert.equal(await page.locator('#sign-in').isVisible(), false);
    } finally {
      await context.close();
      await api.stop();
    }
  });

  it('says so when the API stops answering, and that it is reconnecting', async () => {
    const api = await startTestApi(db.url);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(api.url);
      await servedPid(page);
      await api.stop();
      await page.locator('#connection[data-state="reconnecting"]').waitFor({ timeout: 10_000 });
      await page.locator('#api-problem', { hasText: 'The API is not answering' }).waitFor({ timeout: 10_000 });
      console.log(`# screenshot: ${await screenshot(page, 'live-page-api-down.png')}`);
      assert.deepEqual(await contrastFailures(page), [], 'text contrast (WCAG AA)');
    } finally {
      await context.close();
    }
  });
});

describe('the live page for keyboard and screen-reader users', () => {
  it('works from the keyboard alone with a visible focus, names every field, and announces changes', async () => {
    const api = await startTestApi(db.url);
    const context = await browser.newContext();
    try {
      const { page, errors } = await openPage(context, api.url);
      await page.locator('#messages[aria-busy="false"]').waitFor({ timeout: 10_000 });
      // The first Tab reaches the skip link, which is shown once focused and leads to the message box.
      await page.keyboard.press('Tab');
      const focused = () => page.evaluate<string>('document.activeElement.id || document.activeElement.className');
      assert.equal(await focused(), 'skip-link');
      assert.ok(await page.getByRole('link', { name: 'Skip to the message box' }).isVisible());
      await page.keyboard.press('Enter');
      assert.equal(await focused(), 'message-body');
      const outline = await page.evaluate<string>('(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth; })()');
      assert.match(outline, /^solid [3-9]/, `the focused field shows a focus ring (${outline})`);
      await page.keyboard.type('typed, not clicked');
      await page.keyboard.press('Enter');
      await page.locator('#messages li', { hasText: 'typed, not clicked' }).waitFor({ timeout: 10_000 });

      // Every field has a label; state changes are live regions.
      for (const label of ['Room name', 'Message']) assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, label);
      assert.equal(await page.locator('#connection').getAttribute('role'), 'status');
      assert.equal(await page.locator('#messages').getAttribute('role'), 'log');
      assert.equal(await page.locator('#api-problem').getAttribute('role'), 'alert');
      assert.equal(await page.locator('#sign-in-reason').getAttribute('role'), 'alert');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      await api.stop();
    }
  });
});
