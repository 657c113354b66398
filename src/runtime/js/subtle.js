// `crypto.subtle`: the Web Crypto API (W3C), with `CryptoKey` and `SubtleCrypto`.
// Evaluated once per JS context after web.js (it uses its DOMException), with the natives of
// host/subtle.rs; it returns the `SubtleCrypto` instance host.js puts on `crypto`.
// Here: algorithm normalisation, key usages and extractability, JWK members, and the
// DOMException each failure is. In Rust: every computation, and the key material itself (a
// CryptoKey holds a handle that JavaScript cannot read).
// The work is synchronous on the engine's thread; each method returns a promise, as the
// standard says. PBKDF2 runs in short native steps so that the execution's timeout can stop
// an absurd iteration count between two of them.
((natives) => {
  'use strict';
  const { Object, Array, JSON, Promise, TypeError, String, Number, Math, Uint8Array, ArrayBuffer, WeakMap, Symbol, DOMException, TextEncoder, TextDecoder } = globalThis;

  const fail = (name, message) => new DOMException(message, name);
  // A native failure becomes the DOMException it names; anything else passes unchanged.
  const native = (fn, ...args) => {
    try {
      return fn(...args);
    } catch (e) {
      throw natives.isFailure(e) ? fail(e.name, e.message) : e;
    }
  };

  // ---------------------------------------------------------------- conversions

  const EMPTY = new Uint8Array(0);

  // A BufferSource's bytes as a view (the native copies them at once). A detached buffer (one
  // transferred away) holds no bytes, as WebIDL reads it.
  const bytes = (value, what) => {
    const view = ArrayBuffer.isView(value);
    if (!view && !(value instanceof ArrayBuffer)) throw new TypeError(`${what} is not an ArrayBuffer, TypedArray or DataView`);
    try {
      return view ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
    } catch {
      // QuickJS throws on a detached buffer's views instead of reading them as empty.
      return EMPTY;
    }
  };
  const dict = (value, what) => {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' && typeof value !== 'function') throw new TypeError(`${what} is not an object`);
    return value;
  };
  const required = (params, member, type) => {
    if (params[member] === undefined) {
      throw new TypeError(`Failed to normalize algorithm: '${member}' is required in '${type}'`);
    }
    return params[member];
  };
  // WebIDL [EnforceRange] unsigned long (and octet) members.
  const integer = (value, what, max = 0xffffffff) => {
    const n = Number(value);
    if (!Number.isFinite(n) || Math.trunc(n) < 0 || Math.trunc(n) > max) {
      throw new TypeError(`${what} must be an integer between 0 and ${max}`);
    }
    return Math.trunc(n);
  };

  // ---------------------------------------------------------------- algorithms

  const HASHES = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'];
  // The block size of each hash in bits: an HMAC key's default length.
  const BLOCK_BITS = { 'SHA-1': 512, 'SHA-256': 512, 'SHA-384': 1024, 'SHA-512': 1024 };
  const IMPLEMENTED = ['HMAC', 'ECDSA', 'RSASSA-PKCS1-v1_5', 'Ed25519', 'AES-GCM', 'PBKDF2', 'HKDF'];
  // Names Web Crypto defines that flux does not implement: a message that says so, not
  // "unrecognized".
  const NOT_IMPLEMENTED = ['RSA-PSS', 'RSA-OAEP', 'ECDH', 'X25519', 'X448', 'Ed448', 'AES-CTR', 'AES-CBC', 'AES-KW'];
  const OPERATIONS = {
    digest: HASHES,
    sign: ['HMAC', 'ECDSA', 'RSASSA-PKCS1-v1_5', 'Ed25519'],
    verify: ['HMAC', 'ECDSA', 'RSASSA-PKCS1-v1_5', 'Ed25519'],
    generateKey: ['HMAC', 'ECDSA', 'RSASSA-PKCS1-v1_5', 'Ed25519', 'AES-GCM'],
    importKey: IMPLEMENTED,
    encrypt: ['AES-GCM'],
    decrypt: ['AES-GCM'],
    wrapKey: ['AES-GCM'],
    unwrapKey: ['AES-GCM'],
    deriveBits: ['PBKDF2', 'HKDF'],
    getKeyLength: ['HMAC', 'AES-GCM'],
  };

  const normalizeName = (algorithm, op) => {
    if (typeof algorithm === 'string') algorithm = { name: algorithm };
    else if (algorithm === null || typeof algorithm !== 'object') {
      throw new TypeError('an algorithm is a name or an object with a name');
    }
    // Each member is read once (WebIDL): a getter may have side effects.
    const nameValue = algorithm.name;
    if (nameValue === undefined) throw new TypeError("Failed to normalize algorithm: 'name' is required");
    const given = String(nameValue);
    const upper = given.toUpperCase();
    const name = OPERATIONS[op].find((n) => n.toUpperCase() === upper);
    if (name === undefined) {
      const known = [...IMPLEMENTED, ...HASHES, ...NOT_IMPLEMENTED].find((n) => n.toUpperCase() === upper);
      const offered = OPERATIONS[op].join(', ');
      throw fail('NotSupportedError', known
        ? `crypto.subtle.${op === 'getKeyLength' ? 'deriveKey' : op}: flux does not support ${known} here (it supports ${offered})`
        : `Unrecognized algorithm name: ${given} (crypto.subtle.${op} supports ${offered})`);
    }
    return [name, algorithm];
  };
  const normalizeHash = (hash) => normalizeName(hash, 'digest')[0];

  // The algorithm dictionary `op` takes, normalised: its name and its members.
  const normalize = (algorithm, op) => {
    const [name, source] = normalizeName(algorithm, op);
    const out = { name };
    // The dictionary's members, each read once, in WebIDL's (lexicographic) order.
    const MEMBERS = ['additionalData', 'hash', 'info', 'iterations', 'iv', 'length', 'modulusLength', 'namedCurve', 'publicExponent', 'salt', 'tagLength'];
    const params = {};
    const read = (...members) => {
      for (const k of MEMBERS) if (members.includes(k)) params[k] = source[k];
    };
    switch (`${op}:${name}`) {
      case 'importKey:HMAC':
      case 'generateKey:HMAC':
      case 'getKeyLength:HMAC':
        read('hash', 'length');
        out.hash = normalizeHash(required(params, 'hash', 'HmacKeyParams'));
        if (params.length !== undefined) out.length = integer(params.length, 'length');
        break;
      case 'importKey:ECDSA':
      case 'generateKey:ECDSA':
        read('namedCurve');
        out.namedCurve = String(required(params, 'namedCurve', 'EcKeyParams'));
        break;
      case 'sign:ECDSA':
      case 'verify:ECDSA':
        read('hash');
        out.hash = normalizeHash(required(params, 'hash', 'EcdsaParams'));
        break;
      case 'importKey:RSASSA-PKCS1-v1_5':
        read('hash');
        out.hash = normalizeHash(required(params, 'hash', 'RsaHashedImportParams'));
        break;
      case 'generateKey:RSASSA-PKCS1-v1_5':
        read('hash', 'modulusLength', 'publicExponent');
        out.modulusLength = integer(required(params, 'modulusLength', 'RsaHashedKeyGenParams'), 'modulusLength');
        out.publicExponent = new Uint8Array(bytes(required(params, 'publicExponent', 'RsaHashedKeyGenParams'), 'publicExponent'));
        out.hash = normalizeHash(required(params, 'hash', 'RsaHashedKeyGenParams'));
        break;
      case 'generateKey:AES-GCM':
      case 'getKeyLength:AES-GCM':
        read('length');
        out.length = integer(required(params, 'length', 'AesKeyGenParams'), 'length', 0xffff);
        break;
      case 'encrypt:AES-GCM':
      case 'decrypt:AES-GCM':
      case 'wrapKey:AES-GCM':
      case 'unwrapKey:AES-GCM':
        read('additionalData', 'iv', 'tagLength');
        out.iv = bytes(required(params, 'iv', 'AesGcmParams'), 'iv');
        out.additionalData = params.additionalData === undefined ? EMPTY : bytes(params.additionalData, 'additionalData');
        out.tagLength = params.tagLength === undefined ? 128 : integer(params.tagLength, 'tagLength', 255);
        break;
      case 'deriveBits:PBKDF2':
        read('hash', 'iterations', 'salt');
        out.salt = bytes(required(params, 'salt', 'Pbkdf2Params'), 'salt');
        out.iterations = integer(required(params, 'iterations', 'Pbkdf2Params'), 'iterations');
        out.hash = normalizeHash(required(params, 'hash', 'Pbkdf2Params'));
        break;
      case 'deriveBits:HKDF':
        read('hash', 'info', 'salt');
        out.hash = normalizeHash(required(params, 'hash', 'HkdfParams'));
        out.salt = bytes(required(params, 'salt', 'HkdfParams'), 'salt');
        out.info = bytes(required(params, 'info', 'HkdfParams'), 'info');
        break;
      default:
        break;
    }
    return out;
  };

  // What each algorithm's keys are, in host/subtle.rs's terms, and the usages each type allows.
  const KINDS = {
    HMAC: { kind: 'secret', secret: ['sign', 'verify'] },
    'AES-GCM': { kind: 'secret', secret: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] },
    PBKDF2: { kind: 'secret', secret: ['deriveKey', 'deriveBits'] },
    HKDF: { kind: 'secret', secret: ['deriveKey', 'deriveBits'] },
    ECDSA: { kind: 'ec', private: ['sign'], public: ['verify'] },
    Ed25519: { kind: 'ed25519', private: ['sign'], public: ['verify'] },
    'RSASSA-PKCS1-v1_5': { kind: 'rsa', private: ['sign'], public: ['verify'] },
  };
  const USAGES = ['encrypt', 'decrypt', 'sign', 'verify', 'deriveKey', 'deriveBits', 'wrapKey', 'unwrapKey'];
  const FORMATS = ['raw', 'spki', 'pkcs8', 'jwk'];

  const usageList = (usages) => {
    if (usages === null || typeof usages !== 'object' || typeof usages[Symbol.iterator] !== 'function') {
      throw new TypeError('keyUsages must be an array of strings');
    }
    const list = [];
    for (const u of usages) {
      const usage = String(u);
      if (!USAGES.includes(usage)) throw new TypeError(`'${usage}' is not a valid key usage`);
      if (!list.includes(usage)) list.push(usage);
    }
    return list;
  };
  // "an HMAC key", "a PBKDF2 key".
  const aKey = (name) => `a${/^[AEHIOR]/.test(name) ? 'n' : ''} ${name} key`;
  const checkUsages = (usages, allowed, name) => {
    for (const u of usages) {
      if (!allowed.includes(u)) throw fail('SyntaxError', `Unsupported key usage for ${aKey(name)}: ${u} (it allows ${allowed.join(', ')})`);
    }
  };

  // JWK `alg` values by algorithm.
  // (`hash` is the hash's name: SHA-256 makes HS256.)
  const JWK_ALG = {
    HMAC: (hash) => `HS${hash.slice(4)}`,
    'AES-GCM': (hash, length) => `A${length}GCM`,
    'RSASSA-PKCS1-v1_5': (hash) => `RS${hash.slice(4)}`,
    Ed25519: () => 'Ed25519',
  };

  // ---------------------------------------------------------------- CryptoKey

  const KEYS = new WeakMap();
  const TOKEN = Symbol('CryptoKey');
  const slot = (key, what) => {
    const s = KEYS.get(key);
    if (s === undefined) throw new TypeError(`${what} is not a CryptoKey`);
    return s;
  };

  class CryptoKey {
    constructor(token) {
      if (token !== TOKEN) throw new TypeError('Illegal constructor');
    }
    get type() { return slot(this, 'this').type; }
    get extractable() { return slot(this, 'this').extractable; }
    get algorithm() { return slot(this, 'this').algorithm; }
    get usages() { return slot(this, 'this').usages; }
  }
  Object.defineProperty(CryptoKey.prototype, Symbol.toStringTag, { value: 'CryptoKey', configurable: true });

  // A CryptoKey for `handle`: its algorithm and usages are what the caller reads back (the
  // same objects each time, as the standard says).
  const makeKey = (handle, algorithm, extractable, usages) => {
    const info = natives.info(handle);
    const alg = { name: algorithm.name };
    if (algorithm.name === 'ECDSA') alg.namedCurve = 'P-256';
    if (algorithm.name === 'AES-GCM' || algorithm.name === 'HMAC') {
      if (algorithm.name === 'HMAC') alg.hash = { name: algorithm.hash };
      alg.length = info.bits;
    }
    if (algorithm.name === 'RSASSA-PKCS1-v1_5') {
      alg.modulusLength = info.modulusLength;
      alg.publicExponent = info.publicExponent;
      alg.hash = { name: algorithm.hash };
    }
    const key = new CryptoKey(TOKEN);
    KEYS.set(key, { handle, type: info.type, extractable: Boolean(extractable), algorithm: alg, usages: [...usages] });
    return key;
  };

  // The key's own state, checked for the operation: its algorithm and usage.
  const keyFor = (key, name, usage, what) => {
    const s = slot(key, what);
    if (s.algorithm.name !== name) {
      throw fail('InvalidAccessError', `the key is ${aKey(s.algorithm.name)}, not ${name}`);
    }
    if (!s.usages.includes(usage)) {
      throw fail('InvalidAccessError', `Unable to use this key to ${usage} (its usages: ${s.usages.join(', ') || 'none'})`);
    }
    return s;
  };

  // ---------------------------------------------------------------- import and export

  const importKey = (format, keyData, algorithm, extractable, usages) => {
    format = String(format);
    if (!FORMATS.includes(format)) throw new TypeError(`'${format}' is not a valid key format (raw, spki, pkcs8 or jwk)`);
    const alg = normalize(algorithm, 'importKey');
    usages = usageList(usages);
    const { kind } = KINDS[alg.name];
    if (alg.name === 'ECDSA' && alg.namedCurve !== 'P-256') {
      throw fail('NotSupportedError', `flux supports ECDSA on P-256 only, not ${alg.namedCurve}`);
    }
    let handle;
    let jwk;
    if (format === 'jwk') {
      if (keyData === null || typeof keyData !== 'object' || ArrayBuffer.isView(keyData) || keyData instanceof ArrayBuffer) {
        throw new TypeError('a JWK is an object (JsonWebKey)');
      }
      jwk = keyData;
      checkJwk(jwk, alg, extractable, usages);
      handle = native(natives.importJwk, kind, JSON.stringify(jwk));
    } else {
      if (keyData === null || typeof keyData !== 'object' || !(ArrayBuffer.isView(keyData) || keyData instanceof ArrayBuffer)) {
        throw new TypeError(`the ${format} key data is not an ArrayBuffer, TypedArray or DataView`);
      }
      if (kind === 'secret' && format !== 'raw') {
        throw fail('NotSupportedError', `Unable to import ${alg.name} key with format ${format} (use raw or jwk)`);
      }
      if ((alg.name === 'PBKDF2' || alg.name === 'HKDF') && format !== 'raw') {
        throw fail('NotSupportedError', `${alg.name} keys are imported as raw`);
      }
      handle = native(natives.importKey, kind, format, bytes(keyData, 'keyData'));
    }
    const info = natives.info(handle);
    const allowed = KINDS[alg.name][info.type];
    checkUsages(usages, allowed, alg.name);
    if ((alg.name === 'PBKDF2' || alg.name === 'HKDF') && extractable) {
      throw fail('SyntaxError', `${alg.name} keys are not extractable`);
    }
    if (alg.name === 'HMAC') {
      if (info.bits === 0) throw fail('DataError', 'Zero-length key is not supported');
      if (alg.length !== undefined && alg.length !== info.bits) throw fail('DataError', `the key is ${info.bits} bits, not the ${alg.length} given as length`);
    }
    if (alg.name === 'AES-GCM' && ![128, 192, 256].includes(info.bits)) {
      throw fail('DataError', `an AES key is 128, 192 or 256 bits, not ${info.bits}`);
    }
    if ((info.type === 'secret' || info.type === 'private') && usages.length === 0) {
      throw fail('SyntaxError', `Usages cannot be empty when importing a ${info.type} key.`);
    }
    return makeKey(handle, alg, extractable, usages);
  };

  const checkJwk = (jwk, alg, extractable, usages) => {
    const kty = { secret: 'oct', ec: 'EC', ed25519: 'OKP', rsa: 'RSA' }[KINDS[alg.name].kind];
    if (jwk.kty !== kty) throw fail('DataError', `Invalid JWK "kty" Parameter: ${aKey(alg.name)} has "${kty}"`);
    if (jwk.use !== undefined && usages.length > 0) {
      const use = KINDS[alg.name].kind === 'secret' && alg.name !== 'HMAC' ? 'enc' : 'sig';
      if (jwk.use !== use) throw fail('DataError', `Invalid JWK "use" Parameter: ${aKey(alg.name)} has "${use}"`);
    }
    if (jwk.key_ops !== undefined) {
      if (!Array.isArray(jwk.key_ops)) throw fail('DataError', 'JWK "key_ops" is not an array');
      for (const u of usages) {
        if (!jwk.key_ops.includes(u)) throw fail('DataError', `Key operations and usage mismatch: "key_ops" lacks ${u}`);
      }
    }
    if (jwk.ext === false && extractable) throw fail('DataError', 'JWK "ext" Parameter and extractable mismatch');
    if (jwk.alg !== undefined && JWK_ALG[alg.name]) {
      let expected;
      if (alg.name === 'AES-GCM') {
        const bits = { A128GCM: 128, A192GCM: 192, A256GCM: 256 }[jwk.alg];
        if (bits === undefined) throw fail('DataError', `JWK "alg" ${jwk.alg} is not an AES-GCM algorithm`);
        return;
      }
      if (alg.name === 'Ed25519') expected = ['Ed25519', 'EdDSA'];
      else expected = [JWK_ALG[alg.name](alg.hash)];
      if (!expected.includes(jwk.alg)) throw fail('DataError', `JWK "alg" ${jwk.alg} does not match the requested algorithm (${expected[0]})`);
    }
  };

  const exportKey = (format, key) => {
    format = String(format);
    if (!FORMATS.includes(format)) throw new TypeError(`'${format}' is not a valid key format (raw, spki, pkcs8 or jwk)`);
    const s = slot(key, 'key');
    if (!s.extractable) throw fail('InvalidAccessError', 'key is not extractable');
    if (format !== 'jwk') {
      if (s.type === 'private' && format === 'raw') throw fail('InvalidAccessError', `Unable to export a raw ${s.algorithm.name} private key`);
      return native(natives.exportKey, s.handle, format);
    }
    const jwk = { key_ops: [...s.usages], ext: s.extractable, ...JSON.parse(native(natives.exportJwk, s.handle)) };
    const alg = JWK_ALG[s.algorithm.name];
    if (alg) jwk.alg = alg(s.algorithm.hash ? s.algorithm.hash.name : '', s.algorithm.length);
    return jwk;
  };

  // ---------------------------------------------------------------- generation

  const generateKey = (algorithm, extractable, usages) => {
    const alg = normalize(algorithm, 'generateKey');
    usages = usageList(usages);
    const spec = KINDS[alg.name];
    if (spec.kind === 'secret') {
      checkUsages(usages, spec.secret, alg.name);
      let bits;
      if (alg.name === 'AES-GCM') {
        if (![128, 192, 256].includes(alg.length)) throw fail('OperationError', `an AES key is 128, 192 or 256 bits, not ${alg.length}`);
        bits = alg.length;
      } else {
        bits = alg.length === undefined ? BLOCK_BITS[alg.hash] : alg.length;
        if (bits === 0 || bits % 8 !== 0) throw fail('OperationError', `an HMAC key length must be a positive multiple of 8, not ${bits}`);
      }
      if (usages.length === 0) throw fail('SyntaxError', 'Usages cannot be empty when creating a key.');
      return makeKey(natives.generateSecret(bits), alg, extractable, usages);
    }
    checkUsages(usages, [...spec.private, ...spec.public], alg.name);
    if (alg.name === 'ECDSA' && alg.namedCurve !== 'P-256') {
      throw fail('NotSupportedError', `flux supports ECDSA on P-256 only, not ${alg.namedCurve}`);
    }
    const privateUsages = usages.filter((u) => spec.private.includes(u));
    // The pair is made before its private key's usages are found empty, as Web Crypto orders
    // the checks: a bad publicExponent is an OperationError whatever the usages.
    const [privateHandle, publicHandle] = native(natives.generatePair, spec.kind, alg.modulusLength || 0, alg.publicExponent || EMPTY);
    if (privateUsages.length === 0) throw fail('SyntaxError', 'Usages cannot be empty when creating a key.');
    return {
      publicKey: makeKey(publicHandle, alg, true, usages.filter((u) => spec.public.includes(u))),
      privateKey: makeKey(privateHandle, alg, extractable, privateUsages),
    };
  };

  // ---------------------------------------------------------------- operations

  const TAG_LENGTHS = [32, 64, 96, 104, 112, 120, 128];
  const aesGcm = (encrypt, alg, s, data) => {
    if (alg.iv.byteLength === 0) throw fail('OperationError', 'the AES-GCM iv cannot be empty');
    if (!TAG_LENGTHS.includes(alg.tagLength)) throw fail('OperationError', `${alg.tagLength} is not a valid AES-GCM tag length`);
    if (!encrypt && data.byteLength < alg.tagLength / 8) throw fail('OperationError', 'The provided data is too small.');
    return native(natives.aesGcm, encrypt, s.handle, alg.iv, alg.additionalData, alg.tagLength, data);
  };

  const deriveBits = (alg, s, length) => {
    if (length === null || length === undefined) throw fail('OperationError', 'length cannot be null');
    length = integer(length, 'length');
    if (length % 8 !== 0) throw fail('OperationError', 'length must be a multiple of 8');
    if (alg.name === 'HKDF') return native(natives.hkdf, alg.hash, s.handle, alg.salt, alg.info, length);
    if (alg.iterations === 0) throw fail('OperationError', 'iterations cannot be zero');
    const run = native(natives.pbkdf2, alg.hash, s.handle, alg.salt, alg.iterations, length);
    // Steps of a few milliseconds each: the interrupt that ends a timed-out execution comes
    // between two.
    while (!native(natives.pbkdf2Step, run));
    return natives.pbkdf2Output(run);
  };

  const keyLength = (alg) => {
    if (alg.name === 'AES-GCM') {
      if (![128, 192, 256].includes(alg.length)) throw fail('OperationError', `an AES key is 128, 192 or 256 bits, not ${alg.length}`);
      return alg.length;
    }
    const bits = alg.length === undefined ? BLOCK_BITS[alg.hash] : alg.length;
    if (bits === 0) throw new TypeError('an HMAC key cannot be empty');
    return bits;
  };

  const needArgs = (args, n, what) => {
    if (args.length < n) throw new TypeError(`Failed to execute '${what}' on 'SubtleCrypto': ${n} arguments required, but only ${args.length} present.`);
  };
  // Every method returns a promise: a failure, argument checks included, rejects it. `this`
  // must be the SubtleCrypto (WebIDL's brand check).
  let instance;
  const promised = (fn) => function (...args) {
    try {
      if (this !== instance) throw new TypeError('Illegal invocation');
      return Promise.resolve(fn(...args));
    } catch (e) {
      return Promise.reject(e);
    }
  };

  class SubtleCrypto {
    constructor(token) {
      if (token !== TOKEN) throw new TypeError('Illegal constructor');
    }
  }
  const methods = {
    digest(...args) {
      needArgs(args, 2, 'digest');
      const [name] = normalizeName(args[0], 'digest');
      return native(natives.digest, name, bytes(args[1], "digest's data"));
    },
    importKey(...args) {
      needArgs(args, 5, 'importKey');
      return importKey(...args);
    },
    exportKey(...args) {
      needArgs(args, 2, 'exportKey');
      return exportKey(args[0], args[1]);
    },
    generateKey(...args) {
      needArgs(args, 3, 'generateKey');
      return generateKey(args[0], args[1], args[2]);
    },
    sign(...args) {
      needArgs(args, 3, 'sign');
      const alg = normalize(args[0], 'sign');
      const s = keyFor(args[1], alg.name, 'sign', 'key');
      const data = bytes(args[2], 'the data to sign');
      return native(natives.sign, alg.name, alg.hash || (s.algorithm.hash && s.algorithm.hash.name) || '', s.handle, data);
    },
    verify(...args) {
      needArgs(args, 4, 'verify');
      const alg = normalize(args[0], 'verify');
      const s = keyFor(args[1], alg.name, 'verify', 'key');
      const signature = bytes(args[2], 'the signature');
      const data = bytes(args[3], 'the data to verify');
      return native(natives.verify, alg.name, alg.hash || (s.algorithm.hash && s.algorithm.hash.name) || '', s.handle, signature, data);
    },
    encrypt(...args) {
      needArgs(args, 3, 'encrypt');
      const alg = normalize(args[0], 'encrypt');
      return aesGcm(true, alg, keyFor(args[1], alg.name, 'encrypt', 'key'), bytes(args[2], 'the data to encrypt'));
    },
    decrypt(...args) {
      needArgs(args, 3, 'decrypt');
      const alg = normalize(args[0], 'decrypt');
      return aesGcm(false, alg, keyFor(args[1], alg.name, 'decrypt', 'key'), bytes(args[2], 'the data to decrypt'));
    },
    deriveBits(...args) {
      needArgs(args, 2, 'deriveBits');
      const alg = normalize(args[0], 'deriveBits');
      return deriveBits(alg, keyFor(args[1], alg.name, 'deriveBits', 'baseKey'), args[2]);
    },
    deriveKey(...args) {
      needArgs(args, 5, 'deriveKey');
      const alg = normalize(args[0], 'deriveBits');
      const target = normalize(args[2], 'getKeyLength');
      const usages = usageList(args[4]);
      const s = keyFor(args[1], alg.name, 'deriveKey', 'baseKey');
      const bits = deriveBits(alg, s, keyLength(target));
      return importKey('raw', bits, args[2], args[3], usages);
    },
    wrapKey(...args) {
      needArgs(args, 4, 'wrapKey');
      const [format, key, wrappingKey] = args;
      const alg = normalize(args[3], 'wrapKey');
      const s = keyFor(wrappingKey, alg.name, 'wrapKey', 'wrappingKey');
      const exported = exportKey(format, key);
      const data = String(format) === 'jwk' ? new TextEncoder().encode(JSON.stringify(exported)) : new Uint8Array(exported);
      return aesGcm(true, alg, s, data);
    },
    unwrapKey(...args) {
      needArgs(args, 7, 'unwrapKey');
      const [format, wrapped, unwrappingKey] = args;
      const alg = normalize(args[3], 'unwrapKey');
      const s = keyFor(unwrappingKey, alg.name, 'unwrapKey', 'unwrappingKey');
      const data = aesGcm(false, alg, s, bytes(wrapped, 'the wrapped key'));
      let keyData = data;
      if (String(format) === 'jwk') {
        try {
          keyData = JSON.parse(new TextDecoder().decode(data));
        } catch {
          throw fail('DataError', 'the unwrapped key is not a JWK');
        }
      }
      return importKey(format, keyData, args[4], args[5], args[6]);
    },
  };
  // Each method's `length`: its required arguments, as WebIDL counts them.
  const LENGTHS = {
    digest: 2, importKey: 5, exportKey: 2, generateKey: 3, sign: 3, verify: 4, encrypt: 3,
    decrypt: 3, deriveBits: 2, deriveKey: 5, wrapKey: 4, unwrapKey: 7,
  };
  for (const name of Object.keys(methods)) {
    const method = promised(methods[name]);
    Object.defineProperty(method, 'name', { value: name });
    Object.defineProperty(method, 'length', { value: LENGTHS[name] });
    Object.defineProperty(SubtleCrypto.prototype, name, { value: method, writable: true, configurable: true, enumerable: true });
  }
  Object.defineProperty(SubtleCrypto.prototype, Symbol.toStringTag, { value: 'SubtleCrypto', configurable: true });

  for (const [name, value] of [['CryptoKey', CryptoKey], ['SubtleCrypto', SubtleCrypto]]) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }
  instance = new SubtleCrypto(TOKEN);
  return instance;
})
