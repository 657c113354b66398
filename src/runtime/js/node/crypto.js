// node:crypto: synchronous hashing (createHash, createHmac) on the host's RustCrypto digests,
// random values from the global Web Crypto, timingSafeEqual, and webcrypto itself. Streams
// (hash.pipe, hash.write), ciphers, key objects and sign/verify are not provided: use
// crypto.subtle.
(function (natives, require) {
  'use strict';
  const { Buffer } = require('buffer');
  const webcrypto = globalThis.crypto;

  // The bytes of `data` (a string in `encoding`, a Buffer, a typed array, a DataView, an
  // ArrayBuffer), as a Uint8Array the host reads.
  const bytesOf = (data, encoding, what) => {
    if (typeof data === 'string') return Buffer.from(data, encoding);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    throw new TypeError(`The "${what}" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${data === null ? 'null' : typeof data}`);
  };
  const concat = (chunks) => Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
  // A digest as `encoding` says: a Buffer when none is given, as in Node.
  const encode = (bytes, encoding) => {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return encoding === undefined || encoding === 'buffer' ? buffer : buffer.toString(encoding);
  };

  // What Hash and Hmac share: update until digest, then nothing.
  class Digester {
    #chunks = [];
    #done = false;
    #finish;
    constructor(finish) {
      this.#finish = finish;
    }
    update(data, inputEncoding) {
      if (this.#done) throw new Error('Digest already called');
      this.#chunks.push(bytesOf(data, inputEncoding, 'data'));
      return this;
    }
    digest(encoding) {
      if (this.#done) throw new Error('Digest already called');
      this.#done = true;
      return encode(this.#finish(concat(this.#chunks)), encoding);
    }
  }

  // The algorithms the host digests (node/crypto.rs), by Node's names; any case is taken.
  const getHashes = () => ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

  const checkAlgorithm = (algorithm) => {
    if (typeof algorithm !== 'string') throw new TypeError('The "algorithm" argument must be of type string');
    if (!getHashes().includes(algorithm.toLowerCase())) throw new Error(`Digest method not supported: ${algorithm} (flux has ${getHashes().join(', ')})`);
  };

  class Hash extends Digester {
    constructor(algorithm) {
      checkAlgorithm(algorithm);
      super((bytes) => natives.digest(algorithm, bytes));
    }
  }

  class Hmac extends Digester {
    constructor(algorithm, key) {
      checkAlgorithm(algorithm);
      const keyBytes = Buffer.from(bytesOf(key, 'utf8', 'key'));
      super((bytes) => natives.hmac(algorithm, keyBytes, bytes));
    }
  }

  // One getRandomValues call fills at most 64 KiB.
  const randomFill = (bytes) => {
    for (let at = 0; at < bytes.length; at += 65536) webcrypto.getRandomValues(bytes.subarray(at, at + 65536));
    return bytes;
  };
  const randomBytes = (size, callback) => {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > 2 ** 31 - 1) {
      throw new RangeError(`The value of "size" is out of range. It must be >= 0 && <= 2147483647. Received ${size}`);
    }
    const bytes = randomFill(Buffer.alloc(size));
    if (typeof callback === 'function') {
      Promise.resolve().then(() => callback(null, bytes));
      return undefined;
    }
    return bytes;
  };
  // A uniform integer in [min, max), drawn by rejection so that no value is likelier.
  const randomInt = (min, max, callback) => {
    if (max === undefined || typeof max === 'function') {
      callback = max;
      max = min;
      min = 0;
    }
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min || max - min > 2 ** 48 - 1) {
      throw new RangeError(`randomInt: min (${min}) and max (${max}) must be safe integers with min < max and a range below 2 ** 48`);
    }
    const range = max - min;
    const limit = 2 ** 48 - (2 ** 48 % range);
    let n;
    do {
      const b = randomFill(new Uint8Array(6));
      n = ((b[0] * 256 + b[1]) * 256 + b[2]) * 2 ** 24 + ((b[3] * 256 + b[4]) * 256 + b[5]);
    } while (n >= limit);
    const value = min + (n % range);
    if (typeof callback === 'function') {
      Promise.resolve().then(() => callback(null, value));
      return undefined;
    }
    return value;
  };

  // Compares every byte whatever the first difference, so the time taken tells nothing.
  const timingSafeEqual = (a, b) => {
    const x = bytesOf(a, undefined, 'buf1');
    const y = bytesOf(b, undefined, 'buf2');
    if (x.length !== y.length) throw new RangeError('Input buffers must have the same byte length');
    let diff = 0;
    for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
    return diff === 0;
  };

  const exports = {
    createHash: (algorithm) => new Hash(algorithm),
    createHmac: (algorithm, key) => new Hmac(algorithm, key),
    Hash,
    Hmac,
    getHashes,
    randomBytes,
    randomInt,
    randomUUID: () => webcrypto.randomUUID(),
    getRandomValues: (array) => webcrypto.getRandomValues(array),
    timingSafeEqual,
    webcrypto,
  };
  // crypto.subtle as the global has it (read when used, like Node's alias).
  Object.defineProperty(exports, 'subtle', { get: () => webcrypto.subtle, enumerable: true });
  return exports;
})
