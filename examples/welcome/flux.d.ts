// Ambient types for flux functions, workers and config. No imports needed: everything here is global.

/** The request an HTTP handler receives; `body` is parsed from JSON when the content type says so. */
interface FluxRequest<Body = any> { method: string; path: string; query: Record<string, string>; headers: Record<string, string>; body: Body }

/** The job a worker receives; `data` is the payload given to `ctx.queue.enqueue`. */
interface FluxJob<Data = any> { id: string; name: string; data: Data; attempt: number; maxAttempts: number; enqueuedAt: string; enqueuedBy: string | null }

/** The project database: `insert` returns the inserted row, `query` an array of rows ($1, $2 … are parameters). */
interface FluxDb {
  insert<T = Record<string, any>>(table: string, row: Record<string, unknown>): Promise<T>;
  query<T = Record<string, any>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** A transaction: commits when the callback resolves, rolls back when it throws; its enqueues dispatch only on commit. */
interface FluxTx extends FluxDb { queue: FluxQueue }

/** The durable job queue: `enqueue` runs `functions/<name>.ts` as a worker and returns at once. */
interface FluxQueue { enqueue(name: string, data?: unknown, opts?: { delay?: number | string; runAt?: Date | string; idempotencyKey?: string }): Promise<{ id: string }> }

/** Email sending with a template from `emails/<template>.html`; captured in the execution record in dev. */
interface FluxEmail { send(msg: { to: string; template: string; data?: Record<string, unknown>; subject?: string }): Promise<{ id: string }> }

/** The second argument of every handler and worker. */
interface FluxContext { db: FluxDb & { transaction<T>(fn: (tx: FluxTx) => Promise<T>): Promise<T> }; queue: FluxQueue; email: FluxEmail; requestId: string; env: Record<string, string> }

/** An HTTP handler: returns a Web `Response` or any JSON value (sent with status 200). */
type FluxHandler = (req: FluxRequest, ctx: FluxContext) => Response | unknown | Promise<Response | unknown>

/** A background-job worker: throwing (or timing out) fails the attempt and schedules a retry. The failed attempt's writes stay unless the worker is `atomic: true` in flux.config.ts. */
type FluxWorker<Data = any> = (job: FluxJob<Data>, ctx: FluxContext) => unknown | Promise<unknown>

/** The shape of `flux.config.ts`'s default export. */
interface FluxConfig {
  workers?: Record<string, { maxAttempts?: number; timeoutSeconds?: number; backoff?: 'exponential' | 'linear' | { type: 'exponential' | 'linear'; initialDelay: number | string };
    /** The most attempts of this worker in flight at once (1 to 10000; default: only `queue.concurrency`, or `queue.engines` for an `atomic` worker). */
    concurrency?: number;
    /** A failed attempt's writes stay (each statement stands on its own), so a retry can meet them. With `atomic: true` an attempt's writes commit only if it succeeds; other writers wait while it runs. */
    atomic?: boolean;
    /** A worker (named here, or enqueued) is not an HTTP route: a request to `/<name>` gets 404. `http: true` also serves it over HTTP. */
    http?: boolean }>;
  /** `concurrency`: requests in flight at once (default 512); more wait their turn. `engines`: JS engine threads running them (default: the cores, at least 4). */
  http?: { timeoutSeconds?: number; maxBodySize?: string | number; concurrency?: number; engines?: number };
  /** `concurrency`: job attempts in flight at once over all workers (default 100). `engines`: JS engine threads running them (default: the cores, at least 2). */
  queue?: { concurrency?: number; engines?: number };
  server?: { allowedHosts?: string[]; maxConnections?: number; headerTimeout?: string | number; maxTailClients?: number; tailStallTimeout?: string | number };
  retention?: { maxAge?: string; maxSize?: string | number };
  /** `maxResultSize`: the most one query may return (default '16MiB'): page larger results with LIMIT. */
  db?: { maxResultSize?: string | number };
  env?: string[];
}

/** The DOM's `CustomEvent`: an `Event` carrying `detail`. */
interface CustomEventInit<T = any> { bubbles?: boolean; cancelable?: boolean; composed?: boolean; detail?: T }
interface CustomEvent<T = any> extends Event {
  readonly detail: T;
  initCustomEvent(type: string, bubbles?: boolean, cancelable?: boolean, detail?: T): void;
}
declare var CustomEvent: { prototype: CustomEvent; new <T>(type: string, eventInitDict?: CustomEventInit<T>): CustomEvent<T> };
