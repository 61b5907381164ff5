import pg from 'pg';

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: Error | boolean) => void) => void;

/**
 * A pg.Pool whose size can change while it serves.
 *
 * pg-pool (3.x) reads `options.max` on every checkout, so lowering it stops new connections at
 * once. What it does not do is give back connections it already holds: an idle one stays, and
 * a busy one goes back to the pool when released and is handed to the next waiter. So here a
 * shrink checks out the idle excess and destroys it, and a client released while the pool
 * holds more than its size is destroyed instead of kept (`release(true)`, pg's documented way
 * to discard a client). Every checkout goes through `connect`, `pool.query` included, so
 * that is the one place the release is wrapped.
 */
export class ResizablePool extends pg.Pool {
  /** Connected clients not yet closed, the closing ones included (pg-pool drops those from totalCount first). */
  #connected = 0;

  constructor(config: pg.PoolConfig & { max: number }) {
    // pg-pool turns max 0 into its default of 10; 0 is set after construction.
    super({ ...config, max: Math.max(1, config.max) });
    this.options.max = config.max;
    this.on('connect', () => (this.#connected += 1));
    this.on('remove', () => (this.#connected -= 1));
  }

  get size(): number {
    return this.options.max;
  }

  /** Connections that exist on the server now: being opened, in the pool, or being closed. */
  get openCount(): number {
    return Math.max(this.totalCount, this.#connected);
  }

  /** Takes effect at once: growing lets waiting queries open connections, shrinking closes idle ones. */
  resize(max: number): void {
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`pool size must be a non-negative integer, got ${max}`);
    const grew = max > this.options.max;
    this.options.max = max;
    if (grew) {
      // Waiting queries only get a new connection when something pulses the queue; a checkout
      // that is handed back at once does, opening connections up to the new size.
      for (let i = Math.min(this.waitingCount, max - this.totalCount); i > 0; i -= 1) this.#borrowAndReturn();
      return;
    }
    for (let excess = Math.min(this.idleCount, this.totalCount - max); excess > 0; excess -= 1) this.#borrowAndReturn();
  }

  #borrowAndReturn(): void {
    this.connect().then(
      (client) => { client.release(); },
      () => undefined,
    );
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    if (!callback) {
      return new Promise((resolve, reject) => {
        this.connect((err, client) => {
          if (client) resolve(client);
          else reject(err ?? new Error('no client'));
        });
      });
    }
    super.connect((err, client, done) => {
      if (!client) {
        callback(err, client, done);
        return;
      }
      const release = client.release.bind(client);
      client.release = (destroy?: Error | boolean) => {
        release(destroy ?? (this.totalCount > this.options.max ? true : undefined));
      };
      callback(err, client, (destroy) => { client.release(destroy); });
    });
    return undefined;
  }
}
