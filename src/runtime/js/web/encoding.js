// The Encoding standard: TextEncoder (UTF-8, here) and TextDecoder (every encoding, on encoding_rs).
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, TypeError, String, Uint8Array, ArrayBuffer, P, slot, tag, natives } = web;

  function writeCodePoint(out, n, c) {
    if (c < 0x80) out[n++] = c;
    else if (c < 0x800) { out[n++] = 0xc0 | (c >> 6); out[n++] = 0x80 | (c & 63); }
    else if (c < 0x10000) { out[n++] = 0xe0 | (c >> 12); out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63); }
    else {
      out[n++] = 0xf0 | (c >> 18); out[n++] = 0x80 | ((c >> 12) & 63);
      out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63);
    }
    return n;
  }

  // Code point at s[i] (lone surrogates read as U+FFFD) and how many UTF-16 units it spans.
  function codePointAt(s, i) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) return [c, 1];
    const d = s.charCodeAt(i + 1);
    if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) return [0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00), 2];
    return [0xfffd, 1];
  }

  function utf8Encode(s) {
    const out = new Uint8Array(s.length * 3);
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) { out[n++] = c; continue; }
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = s.charCodeAt(i + 1);
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
        else c = 0xfffd;
      }
      n = writeCodePoint(out, n, c);
    }
    return out.slice(0, n);
  }

  // Decoding is encoding_rs's (host/encoding.rs): one native decoder per TextDecoder.
  const decodeUTF8 = (bytes, ignoreBOM) => natives.decodeUTF8(bytes, !!ignoreBOM);

  function toU8(v) {
    if (v instanceof Uint8Array) return v;
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && v instanceof SharedArrayBuffer)) return new Uint8Array(v);
    throw new TypeError('The "input" argument must be an instance of ArrayBuffer or ArrayBufferView');
  }

  class TextEncoder {
    constructor() { P.set(this, {}); }
    get encoding() { return 'utf-8'; }
    encode(input = '') { return utf8Encode(String(input)); }
    encodeInto(source, destination) {
      source = String(source);
      if (!(destination instanceof Uint8Array)) throw new TypeError('The "dest" argument must be an instance of Uint8Array.');
      let read = 0, written = 0;
      while (read < source.length) {
        const [cp, units] = codePointAt(source, read);
        const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (written + size > destination.length) break;
        written = writeCodePoint(destination, written, cp);
        read += units;
      }
      return { read, written };
    }
  }
  tag(TextEncoder);

  class TextDecoder {
    constructor(label = 'utf-8', options = undefined) {
      if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
        throw new TypeError("Failed to construct 'TextDecoder': The provided value is not of type 'TextDecoderOptions'.");
      }
      options = options ?? {};
      const fatal = !!options.fatal, ignoreBOM = !!options.ignoreBOM;
      const decoder = natives.newDecoder(String(label), fatal, ignoreBOM);
      P.set(this, { decoder, encoding: natives.encodingName(String(label)), fatal, ignoreBOM });
    }
    get encoding() { return slot(this).encoding; }
    get fatal() { return slot(this).fatal; }
    get ignoreBOM() { return slot(this).ignoreBOM; }
    decode(input = undefined, options = undefined) {
      const st = slot(this);
      const bytes = input === undefined || input === null ? new Uint8Array(0) : toU8(input);
      return natives.decode(st.decoder, bytes, !!(options && options.stream));
    }
  }
  tag(TextDecoder);

  Object.assign(web, { utf8Encode, decodeUTF8, toU8, TextEncoder, TextDecoder });
})
