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
/** `iv` of 12 or 16 bytes; `tagLength` 32, 64 or 96 to 128 bits (default 128). */
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
declare var crypto: Crypto;
