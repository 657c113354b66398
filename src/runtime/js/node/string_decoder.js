// node:string_decoder: the npm package string_decoder (Node's own decoder, ported), which
// takes Buffers only; Node's takes any typed array or DataView too, so those are viewed as
// Buffers first.
(function (natives, require) {
  'use strict';
  const { Buffer } = require('buffer');
  const Vendored = natives.vendored.StringDecoder;
  const asBuffer = (buf) => {
    if (buf === undefined || typeof buf === 'string' || Buffer.isBuffer(buf)) return buf;
    if (ArrayBuffer.isView(buf)) return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    throw new TypeError('The "buf" argument must be an instance of Buffer, TypedArray, or DataView.');
  };
  class StringDecoder {
    #inner;
    constructor(encoding) {
      this.#inner = new Vendored(encoding);
    }
    get encoding() {
      return this.#inner.encoding;
    }
    write(buf) {
      const bytes = asBuffer(buf);
      return typeof bytes === 'string' ? bytes : this.#inner.write(bytes);
    }
    end(buf) {
      const bytes = asBuffer(buf);
      return typeof bytes === 'string' ? bytes + this.#inner.end() : this.#inner.end(bytes);
    }
  }
  return { StringDecoder };
})
