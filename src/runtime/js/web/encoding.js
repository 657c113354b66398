// The Encoding standard: UTF-8, TextEncoder and TextDecoder.
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, TypeError, RangeError, String, Uint8Array, ArrayBuffer, P, slot, tag } = web;

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

  const decoderState = (fatal, ignoreBOM) => ({ cp: 0, need: 0, seen: 0, lo: 0x80, hi: 0xbf, bomDone: false, fatal, ignoreBOM });

  // The WHATWG UTF-8 decoder; `st` carries partial sequences between streaming calls.
  function utf8Decode(bytes, st, stream) {
    let { cp, need, seen, lo, hi } = st;
    let out = '', k = 0;
    const units = new Uint16Array(8192);
    const flush = () => { out += String.fromCharCode.apply(null, units.subarray(0, k)); k = 0; };
    const push = (c) => {
      if (!st.bomDone) {
        st.bomDone = true;
        if (c === 0xfeff && !st.ignoreBOM) return;
      }
      if (k > 8190) flush();
      if (c > 0xffff) { c -= 0x10000; units[k++] = 0xd800 + (c >> 10); units[k++] = 0xdc00 + (c & 0x3ff); }
      else units[k++] = c;
    };
    const bad = () => {
      if (st.fatal) {
        Object.assign(st, decoderState(st.fatal, st.ignoreBOM));
        throw new TypeError('The encoded data was not valid for encoding utf-8');
      }
      push(0xfffd);
    };
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (need === 0) {
        if (b < 0x80) {
          st.bomDone = true;
          if (k > 8190) flush();
          units[k++] = b;
        } else if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) lo = 0xa0;
          if (b === 0xed) hi = 0x9f;
          need = 2; cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) lo = 0x90;
          if (b === 0xf4) hi = 0x8f;
          need = 3; cp = b & 7;
        } else bad();
        continue;
      }
      if (b < lo || b > hi) {
        cp = need = seen = 0; lo = 0x80; hi = 0xbf;
        bad();
        i--; // the offending byte starts over
        continue;
      }
      lo = 0x80; hi = 0xbf;
      cp = (cp << 6) | (b & 0x3f);
      if (++seen === need) { push(cp); cp = need = seen = 0; }
    }
    if (!stream && need) { cp = need = seen = 0; lo = 0x80; hi = 0xbf; bad(); }
    Object.assign(st, { cp, need, seen, lo, hi });
    if (!stream) Object.assign(st, decoderState(st.fatal, st.ignoreBOM));
    flush();
    return out;
  }

  const decodeUTF8 = (bytes, ignoreBOM) => utf8Decode(bytes, decoderState(false, ignoreBOM), false);

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

  const UTF8_LABELS = ['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8'];

  class TextDecoder {
    constructor(label = 'utf-8', options) {
      const name = String(label).trim().toLowerCase();
      if (!UTF8_LABELS.includes(name)) throw new RangeError(`The "${label}" encoding is not supported`);
      options = options ?? {};
      P.set(this, decoderState(!!options.fatal, !!options.ignoreBOM));
    }
    get encoding() { return 'utf-8'; }
    get fatal() { return slot(this).fatal; }
    get ignoreBOM() { return slot(this).ignoreBOM; }
    decode(input, options) {
      const st = slot(this);
      const bytes = input === undefined || input === null ? new Uint8Array(0) : toU8(input);
      return utf8Decode(bytes, st, !!(options && options.stream));
    }
  }
  tag(TextDecoder);

  Object.assign(web, { utf8Encode, decodeUTF8, toU8, TextEncoder, TextDecoder });
})
