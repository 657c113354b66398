// Ambient types for flux functions, workers and config. No imports needed: everything here is global.

/** The request an HTTP handler receives; `body` is parsed by its content type: JSON as its value; a form
 * (urlencoded or multipart) as an object of fields, a file as a `File`, a repeated field as an array; else text. */
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
  /** `concurrency`: job attempts in flight at once over all workers (default 100). `engines`: JS engine threads running them (default: the cores, at least 2). On PostgreSQL: `lease`, how long a process's claim on a running job holds unless renewed (default '30s'); `pollInterval`, how often each process looks for due jobs (default '200ms'); `notify`, wake processes with one NOTIFY per transaction that made a job due (default true; false behind PgBouncer in transaction mode). */
  queue?: {
    concurrency?: number;
    engines?: number;
    lease?: string | number;
    pollInterval?: string | number;
    notify?: boolean;
  };
  server?: { allowedHosts?: string[]; maxConnections?: number; headerTimeout?: string | number; maxTailClients?: number; tailStallTimeout?: string | number };
  retention?: { maxAge?: string; maxSize?: string | number };
  /** `maxResultSize`: the most one query may return (default '16MiB'): page larger results with LIMIT. */
  db?: { maxResultSize?: string | number };
  env?: string[];
}

// The web platform as flux provides it: the globals below and TypeScript's ES library, nothing
// from the DOM (tsconfig.json's `lib` has no "DOM"), so what type-checks here exists at runtime.

type BufferSource = ArrayBufferView | ArrayBuffer;
type HeadersInit = [string, string][] | Record<string, string> | Headers;
/** What a `Response`, `Request` or `fetch` body may be. */
type BodyInit = string | BufferSource | URLSearchParams | Blob | FormData | FluxBodyStream;

/** A body's bytes as `Response.body` and `Request.body` give them. */
interface FluxBodyStream {
  readonly locked: boolean;
  getReader(): { read(): Promise<{ done: true; value: undefined } | { done: false; value: Uint8Array }>; releaseLock(): void; cancel(reason?: unknown): Promise<void>; readonly closed: Promise<void> };
  cancel(reason?: unknown): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array>;
}

interface Console { log(...data: unknown[]): void; info(...data: unknown[]): void; warn(...data: unknown[]): void; error(...data: unknown[]): void; debug(...data: unknown[]): void; trace(...data: unknown[]): void }
/** Recorded with the execution (`flux trace`) and printed by `flux dev`. */
declare var console: Console;

interface Crypto {
  /** Fills an integer typed array of at most 64 KiB with random values. */
  getRandomValues<T extends ArrayBufferView | null>(array: T): T;
  randomUUID(): `${string}-${string}-${string}-${string}-${string}`;
}
declare var crypto: Crypto;

interface Performance { readonly timeOrigin: number; now(): number; toJSON(): { timeOrigin: number } }
declare var performance: Performance;

declare function setTimeout<A extends unknown[]>(callback: (...args: A) => void, ms?: number, ...args: A): number;
declare function setInterval<A extends unknown[]>(callback: (...args: A) => void, ms?: number, ...args: A): number;
declare function clearTimeout(id: number | undefined): void;
declare function clearInterval(id: number | undefined): void;
declare function queueMicrotask(callback: () => void): void;
declare function structuredClone<T = any>(value: T, options?: { transfer?: ArrayBuffer[] }): T;
declare function atob(data: string): string;
declare function btoa(data: string): string;
/** An HTTP request from the function, recorded as a span; honours `signal`. */
declare function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;

/** The legacy error codes (`code`, and these constants on the class and its instances). */
interface DOMExceptionCodes { readonly INDEX_SIZE_ERR: 1; readonly DOMSTRING_SIZE_ERR: 2; readonly HIERARCHY_REQUEST_ERR: 3; readonly WRONG_DOCUMENT_ERR: 4; readonly INVALID_CHARACTER_ERR: 5; readonly NO_DATA_ALLOWED_ERR: 6; readonly NO_MODIFICATION_ALLOWED_ERR: 7; readonly NOT_FOUND_ERR: 8; readonly NOT_SUPPORTED_ERR: 9; readonly INUSE_ATTRIBUTE_ERR: 10; readonly INVALID_STATE_ERR: 11; readonly SYNTAX_ERR: 12; readonly INVALID_MODIFICATION_ERR: 13; readonly NAMESPACE_ERR: 14; readonly INVALID_ACCESS_ERR: 15; readonly VALIDATION_ERR: 16; readonly TYPE_MISMATCH_ERR: 17; readonly SECURITY_ERR: 18; readonly NETWORK_ERR: 19; readonly ABORT_ERR: 20; readonly URL_MISMATCH_ERR: 21; readonly QUOTA_EXCEEDED_ERR: 22; readonly TIMEOUT_ERR: 23; readonly INVALID_NODE_TYPE_ERR: 24; readonly DATA_CLONE_ERR: 25 }
interface DOMException extends Error, DOMExceptionCodes { readonly code: number }
declare var DOMException: DOMExceptionCodes & { prototype: DOMException; new(message?: string, name?: string): DOMException };

interface EventInit { bubbles?: boolean; cancelable?: boolean; composed?: boolean }
interface Event {
  readonly type: string; readonly bubbles: boolean; readonly cancelable: boolean; readonly composed: boolean; readonly defaultPrevented: boolean;
  readonly target: EventTarget | null; readonly currentTarget: EventTarget | null; readonly srcElement: EventTarget | null; readonly eventPhase: number;
  readonly timeStamp: number; readonly isTrusted: boolean;
  /** Legacy: `false` cancels, as `preventDefault()` does. */
  returnValue: boolean;
  /** Legacy: `true` stops propagation, as `stopPropagation()` does. */
  cancelBubble: boolean;
  preventDefault(): void; stopPropagation(): void; stopImmediatePropagation(): void; composedPath(): EventTarget[];
  /** Legacy: re-initializes an event that is not being dispatched. */
  initEvent(type: string, bubbles?: boolean, cancelable?: boolean): void;
}
declare var Event: { prototype: Event; new(type: string, init?: EventInit): Event; readonly NONE: 0; readonly CAPTURING_PHASE: 1; readonly AT_TARGET: 2; readonly BUBBLING_PHASE: 3 };

type EventListenerOrEventListenerObject = ((event: Event) => void) | { handleEvent(event: Event): void };
interface EventTarget {
  addEventListener(type: string, callback: EventListenerOrEventListenerObject | null, options?: boolean | { capture?: boolean; once?: boolean; passive?: boolean; signal?: AbortSignal }): void;
  removeEventListener(type: string, callback: EventListenerOrEventListenerObject | null, options?: boolean | { capture?: boolean }): void;
  dispatchEvent(event: Event): boolean;
}
declare var EventTarget: { prototype: EventTarget; new(): EventTarget };

interface AbortSignal extends EventTarget { readonly aborted: boolean; readonly reason: any; onabort: ((event: Event) => void) | null; throwIfAborted(): void }
declare var AbortSignal: { prototype: AbortSignal; abort(reason?: any): AbortSignal; timeout(ms: number): AbortSignal; any(signals: AbortSignal[]): AbortSignal };
interface AbortController { readonly signal: AbortSignal; abort(reason?: any): void }
declare var AbortController: { prototype: AbortController; new(): AbortController };

interface TextEncoder { readonly encoding: string; encode(input?: string): Uint8Array; encodeInto(source: string, destination: Uint8Array): { read: number; written: number } }
declare var TextEncoder: { prototype: TextEncoder; new(): TextEncoder };
interface TextDecoder { readonly encoding: string; readonly fatal: boolean; readonly ignoreBOM: boolean; decode(input?: BufferSource, options?: { stream?: boolean }): string }
declare var TextDecoder: { prototype: TextDecoder; new(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }): TextDecoder };

interface Headers {
  append(name: string, value: string): void; delete(name: string): void; get(name: string): string | null; getSetCookie(): string[]; has(name: string): boolean; set(name: string, value: string): void;
  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: any): void;
  entries(): IterableIterator<[string, string]>; keys(): IterableIterator<string>; values(): IterableIterator<string>; [Symbol.iterator](): IterableIterator<[string, string]>;
}
declare var Headers: { prototype: Headers; new(init?: HeadersInit): Headers };

interface URLSearchParams {
  readonly size: number;
  append(name: string, value: string): void; delete(name: string, value?: string): void; get(name: string): string | null; getAll(name: string): string[];
  has(name: string, value?: string): boolean; set(name: string, value: string): void; sort(): void; toString(): string;
  forEach(callback: (value: string, key: string, parent: URLSearchParams) => void, thisArg?: any): void;
  entries(): IterableIterator<[string, string]>; keys(): IterableIterator<string>; values(): IterableIterator<string>; [Symbol.iterator](): IterableIterator<[string, string]>;
}
declare var URLSearchParams: { prototype: URLSearchParams; new(init?: string[][] | Record<string, string> | string | URLSearchParams): URLSearchParams };

interface URL {
  hash: string; host: string; hostname: string; href: string; readonly origin: string; password: string; pathname: string; port: string;
  protocol: string; search: string; readonly searchParams: URLSearchParams; username: string; toString(): string; toJSON(): string;
}
declare var URL: { prototype: URL; new(url: string | URL, base?: string | URL): URL; canParse(url: string | URL, base?: string | URL): boolean; parse(url: string | URL, base?: string | URL): URL | null };

interface Body {
  readonly body: FluxBodyStream | null; readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>; bytes(): Promise<Uint8Array>; json(): Promise<any>; text(): Promise<string>;
}

interface ResponseInit { status?: number; statusText?: string; headers?: HeadersInit }
interface Response extends Body {
  readonly headers: Headers; readonly ok: boolean; readonly redirected: boolean; readonly status: number; readonly statusText: string;
  readonly type: 'basic' | 'cors' | 'default' | 'error' | 'opaque' | 'opaqueredirect'; readonly url: string; clone(): Response;
}
declare var Response: { prototype: Response; new(body?: BodyInit | null, init?: ResponseInit): Response; error(): Response; json(data: any, init?: ResponseInit): Response; redirect(url: string | URL, status?: number): Response };

interface RequestInit {
  method?: string; headers?: HeadersInit; body?: BodyInit | null; signal?: AbortSignal | null;
  redirect?: 'follow' | 'error' | 'manual'; credentials?: 'omit' | 'same-origin' | 'include'; mode?: 'cors' | 'navigate' | 'no-cors' | 'same-origin';
  cache?: 'default' | 'force-cache' | 'no-cache' | 'no-store' | 'only-if-cached' | 'reload'; referrer?: string; referrerPolicy?: string;
  integrity?: string; keepalive?: boolean; duplex?: 'half';
}
interface Request extends Body {
  readonly cache: string; readonly credentials: string; readonly destination: string; readonly duplex: string; readonly headers: Headers; readonly integrity: string;
  readonly keepalive: boolean; readonly method: string; readonly mode: string; readonly redirect: string; readonly referrer: string; readonly referrerPolicy: string;
  readonly signal: AbortSignal; readonly url: string; clone(): Request;
}
declare var Request: { prototype: Request; new(input: string | URL | Request, init?: RequestInit): Request };

// Blob, File, FormData, and form bodies (the File API, XHR's FormData, Fetch's Body). A Blob and a
// FormData are bodies too (`BodyInit`).
type BlobPart = BufferSource | Blob | string;
interface Blob {
  readonly size: number; readonly type: string;
  slice(start?: number, end?: number, contentType?: string): Blob;
  text(): Promise<string>; arrayBuffer(): Promise<ArrayBuffer>; bytes(): Promise<Uint8Array>; stream(): FluxBodyStream;
}
declare var Blob: { prototype: Blob; new(blobParts?: BlobPart[], options?: { type?: string; endings?: 'transparent' | 'native' }): Blob };
interface File extends Blob { readonly name: string; readonly lastModified: number; readonly webkitRelativePath: string }
declare var File: { prototype: File; new(fileBits: BlobPart[], fileName: string, options?: { type?: string; endings?: 'transparent' | 'native'; lastModified?: number }): File };
type FormDataEntryValue = File | string;
interface FormData {
  append(name: string, value: string | Blob, fileName?: string): void; set(name: string, value: string | Blob, fileName?: string): void;
  get(name: string): FormDataEntryValue | null; getAll(name: string): FormDataEntryValue[]; has(name: string): boolean; delete(name: string): void;
  forEach(callback: (value: FormDataEntryValue, key: string, parent: FormData) => void, thisArg?: any): void;
  entries(): IterableIterator<[string, FormDataEntryValue]>; keys(): IterableIterator<string>; values(): IterableIterator<FormDataEntryValue>;
  [Symbol.iterator](): IterableIterator<[string, FormDataEntryValue]>;
}
declare var FormData: { prototype: FormData; new(): FormData };
interface Body { blob(): Promise<Blob>; formData(): Promise<FormData> }

/** The DOM's `CustomEvent`: an `Event` carrying `detail`. */
interface CustomEventInit<T = any> { bubbles?: boolean; cancelable?: boolean; composed?: boolean; detail?: T }
interface CustomEvent<T = any> extends Event {
  readonly detail: T;
  initCustomEvent(type: string, bubbles?: boolean, cancelable?: boolean, detail?: T): void;
}
declare var CustomEvent: { prototype: CustomEvent; new <T>(type: string, eventInitDict?: CustomEventInit<T>): CustomEvent<T> };

// Web Crypto (`crypto.subtle`) as flux implements it: digest SHA-1/256/384/512; sign and verify
// with HMAC, ECDSA (P-256), Ed25519, RSASSA-PKCS1-v1_5; AES-GCM; PBKDF2 and HKDF; keys as raw,
// JWK, SPKI or PKCS #8. Every method returns a promise; failures reject with a DOMException.
type FluxBytes = ArrayBufferView | ArrayBuffer;
type FluxHashName = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';
type FluxHash = FluxHashName | { name: FluxHashName };
type FluxKeyUsage = 'encrypt' | 'decrypt' | 'sign' | 'verify' | 'deriveKey' | 'deriveBits' | 'wrapKey' | 'unwrapKey';
type FluxSignAlgorithm = 'HMAC' | 'Ed25519' | 'RSASSA-PKCS1-v1_5' | { name: 'HMAC' | 'Ed25519' | 'RSASSA-PKCS1-v1_5' } | { name: 'ECDSA'; hash: FluxHash };
type FluxImportAlgorithm = 'Ed25519' | 'AES-GCM' | 'PBKDF2' | 'HKDF' | { name: 'Ed25519' | 'AES-GCM' | 'PBKDF2' | 'HKDF' }
  | { name: 'HMAC'; hash: FluxHash; length?: number } | { name: 'ECDSA'; namedCurve: 'P-256' } | { name: 'RSASSA-PKCS1-v1_5'; hash: FluxHash };
type FluxKeyAlgorithm = { name: 'HMAC'; hash: FluxHash; length?: number } | { name: 'AES-GCM'; length: 128 | 192 | 256 };
type FluxPairAlgorithm = 'Ed25519' | { name: 'Ed25519' } | { name: 'ECDSA'; namedCurve: 'P-256' }
  | { name: 'RSASSA-PKCS1-v1_5'; modulusLength: number; publicExponent: Uint8Array; hash: FluxHash };
/** `iv` of any length but 0 (12 bytes is usual); `tagLength` 32, 64 or 96 to 128 bits (default 128). */
type FluxAesGcmParams = { name: 'AES-GCM'; iv: FluxBytes; additionalData?: FluxBytes; tagLength?: number };
type FluxDeriveAlgorithm = { name: 'PBKDF2'; salt: FluxBytes; iterations: number; hash: FluxHash } | { name: 'HKDF'; hash: FluxHash; salt: FluxBytes; info: FluxBytes };
interface JsonWebKey { kty?: string; crv?: string; alg?: string; use?: string; key_ops?: string[]; ext?: boolean; k?: string; x?: string; y?: string; d?: string; n?: string; e?: string; p?: string; q?: string; dp?: string; dq?: string; qi?: string }

/** A key whose material stays inside flux: only an extractable key's `exportKey` reveals it. */
interface CryptoKey {
  readonly type: 'secret' | 'public' | 'private';
  readonly extractable: boolean;
  readonly algorithm: { name: string; [member: string]: unknown };
  readonly usages: FluxKeyUsage[];
}
declare var CryptoKey: { prototype: CryptoKey; new(): CryptoKey };
interface CryptoKeyPair { publicKey: CryptoKey; privateKey: CryptoKey }

interface SubtleCrypto {
  digest(algorithm: FluxHash, data: FluxBytes): Promise<ArrayBuffer>;
  importKey(format: 'jwk', keyData: JsonWebKey, algorithm: FluxImportAlgorithm, extractable: boolean, keyUsages: FluxKeyUsage[]): Promise<CryptoKey>;
  importKey(format: 'raw' | 'spki' | 'pkcs8', keyData: FluxBytes, algorithm: FluxImportAlgorithm, extractable: boolean, keyUsages: FluxKeyUsage[]): Promise<CryptoKey>;
  exportKey(format: 'jwk', key: CryptoKey): Promise<JsonWebKey>;
  exportKey(format: 'raw' | 'spki' | 'pkcs8', key: CryptoKey): Promise<ArrayBuffer>;
  generateKey(algorithm: FluxPairAlgorithm, extractable: boolean, keyUsages: FluxKeyUsage[]): Promise<CryptoKeyPair>;
  generateKey(algorithm: FluxKeyAlgorithm, extractable: boolean, keyUsages: FluxKeyUsage[]): Promise<CryptoKey>;
  sign(algorithm: FluxSignAlgorithm, key: CryptoKey, data: FluxBytes): Promise<ArrayBuffer>;
  verify(algorithm: FluxSignAlgorithm, key: CryptoKey, signature: FluxBytes, data: FluxBytes): Promise<boolean>;
  encrypt(algorithm: FluxAesGcmParams, key: CryptoKey, data: FluxBytes): Promise<ArrayBuffer>;
  decrypt(algorithm: FluxAesGcmParams, key: CryptoKey, data: FluxBytes): Promise<ArrayBuffer>;
  /** `length` in bits, a multiple of 8. PBKDF2 runs on the engine's thread: the timeout stops an absurd `iterations`. */
  deriveBits(algorithm: FluxDeriveAlgorithm, baseKey: CryptoKey, length: number): Promise<ArrayBuffer>;
  deriveKey(algorithm: FluxDeriveAlgorithm, baseKey: CryptoKey, derivedKeyType: FluxKeyAlgorithm, extractable: boolean, keyUsages: FluxKeyUsage[]): Promise<CryptoKey>;
  wrapKey(format: 'raw' | 'spki' | 'pkcs8' | 'jwk', key: CryptoKey, wrappingKey: CryptoKey, wrapAlgorithm: FluxAesGcmParams): Promise<ArrayBuffer>;
  unwrapKey(format: 'raw' | 'spki' | 'pkcs8' | 'jwk', wrappedKey: FluxBytes, unwrappingKey: CryptoKey, unwrapAlgorithm: FluxAesGcmParams, unwrappedKeyAlgorithm: FluxImportAlgorithm, extractable: boolean, keyUsages: FluxKeyUsage[]): Promise<CryptoKey>;
}
declare var SubtleCrypto: { prototype: SubtleCrypto; new(): SubtleCrypto };
interface Crypto { readonly subtle: SubtleCrypto }
