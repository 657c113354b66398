// Web-standard globals for the flux runtime, in pure JavaScript.
// Evaluated as a plain script in a fresh QuickJS context before user code: a function the host
// calls with its native helpers (`natives.parseURL`); it returns helpers for host.js.
// The host defines console, fetch, timers and crypto. Only AbortSignal.timeout (setTimeout) and
// listener-error reporting (console.error) touch them, and only when they run.
((natives) => {
  'use strict';
  // The built-ins this file uses, captured before user code can replace the globals.
  const { Object, Array, JSON, Promise, Error, TypeError, RangeError, Symbol, WeakMap, Map, String, Number, Math, Date, Uint8Array, ArrayBuffer } = globalThis;

  // Internal state of every object made here, keyed by the object (acts as a brand check too).
  const P = new WeakMap();
  const slot = (o) => {
    const s = P.get(o);
    if (s === undefined) throw new TypeError('Illegal invocation');
    return s;
  };
  const hidden = (o, k, value) =>
    Object.defineProperty(o, k, { value, writable: true, configurable: true, enumerable: false });
  const tag = (C, name = C.name) =>
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: name, configurable: true });
  const getters = (C, names) => {
    for (const k of names) {
      Object.defineProperty(C.prototype, k, { get() { return slot(this)[k]; }, configurable: true, enumerable: true });
    }
  };
  const needArgs = (args, n, what) => {
    if (args.length < n) throw new TypeError(`${what}: ${n} argument${n > 1 ? 's' : ''} required, but only ${args.length} present.`);
  };
  const report = (e) => {
    if (globalThis.console && typeof globalThis.console.error === 'function') globalThis.console.error(e);
  };

  // Lone surrogates become U+FFFD (WebIDL USVString conversion).
  const usv = (v) => {
    const s = String(v);
    return /[\uD800-\uDFFF]/.test(s)
      ? s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]|[\uD800-\uDFFF]/g, (m) => (m.length === 2 ? m : '\uFFFD'))
      : s;
  };

  // ---------------------------------------------------------------- DOMException, Event, EventTarget

  const DOM_CODES = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
    SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20, URLMismatchError: 21,
    QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
  };

  class DOMException extends Error {
    constructor(message = '', options = 'Error') {
      super(String(message));
      let name = options;
      if (options !== null && typeof options === 'object') {
        name = options.name === undefined ? 'Error' : options.name;
        if ('cause' in options) hidden(this, 'cause', options.cause);
      }
      hidden(this, 'name', String(name));
    }
    get code() { return DOM_CODES[this.name] || 0; }
  }
  tag(DOMException);

  const now = () => (globalThis.performance && typeof globalThis.performance.now === 'function' ? globalThis.performance.now() : Date.now());

  class Event {
    constructor(type, init) {
      needArgs(arguments, 1, "Failed to construct 'Event'");
      init = init ?? {};
      P.set(this, {
        type: String(type), bubbles: !!init.bubbles, cancelable: !!init.cancelable, composed: !!init.composed,
        defaultPrevented: false, stop: false, target: null, currentTarget: null, eventPhase: 0, timeStamp: now(),
      });
    }
    get srcElement() { return slot(this).target; }
    get returnValue() { return !slot(this).defaultPrevented; }
    get isTrusted() { return false; }
    preventDefault() { const s = slot(this); if (s.cancelable) s.defaultPrevented = true; }
    stopPropagation() {}
    stopImmediatePropagation() { slot(this).stop = true; }
    composedPath() { const s = slot(this); return s.currentTarget ? [s.currentTarget] : []; }
  }
  getters(Event, ['type', 'bubbles', 'cancelable', 'composed', 'defaultPrevented', 'target', 'currentTarget', 'eventPhase', 'timeStamp']);
  Object.assign(Event, { NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 });
  tag(Event);

  const LISTENERS = new WeakMap();
  const listeners = (o) => {
    const m = LISTENERS.get(o);
    if (!m) throw new TypeError('Illegal invocation');
    return m;
  };
  const captureOf = (opts) => (typeof opts === 'boolean' ? opts : !!(opts && opts.capture));

  class EventTarget {
    constructor() { LISTENERS.set(this, new Map()); }
    addEventListener(type, callback, options) {
      const map = listeners(this);
      if (callback == null) return;
      type = String(type);
      const capture = captureOf(options);
      const obj = options !== null && typeof options === 'object' ? options : {};
      if (obj.signal && obj.signal.aborted) return;
      let list = map.get(type);
      if (!list) map.set(type, (list = []));
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      list.push({ callback, capture, once: !!obj.once, removed: false });
      if (obj.signal) obj.signal.addEventListener('abort', () => this.removeEventListener(type, callback, capture));
    }
    removeEventListener(type, callback, options) {
      const list = listeners(this).get(String(type));
      if (!list) return;
      const capture = captureOf(options);
      const i = list.findIndex((l) => l.callback === callback && l.capture === capture);
      if (i >= 0) list.splice(i, 1)[0].removed = true;
    }
    dispatchEvent(event) {
      const map = listeners(this);
      if (!(event instanceof Event)) throw new TypeError('The "event" argument must be an instance of Event.');
      const s = slot(event);
      s.target = s.currentTarget = this;
      s.eventPhase = 2;
      for (const l of (map.get(s.type) || []).slice()) {
        if (l.removed) continue;
        if (l.once) this.removeEventListener(s.type, l.callback, l.capture);
        try {
          if (typeof l.callback === 'function') l.callback.call(this, event);
          else l.callback.handleEvent(event);
        } catch (e) {
          report(e); // a throwing listener must not stop the dispatch or the dispatcher
        }
        if (s.stop) break;
      }
      s.currentTarget = null;
      s.eventPhase = 0;
      return !s.defaultPrevented;
    }
  }
  tag(EventTarget);

  // ---------------------------------------------------------------- AbortController / AbortSignal

  const INTERNAL = Symbol('internal');

  function abortSignal(signal, reason) {
    const s = slot(signal);
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    signal.dispatchEvent(new Event('abort'));
  }

  class AbortSignal extends EventTarget {
    constructor(key) {
      if (key !== INTERNAL) throw new TypeError('Illegal constructor');
      super();
      P.set(this, { aborted: false, reason: undefined, onabort: null, handlerInstalled: false });
    }
    get aborted() { return slot(this).aborted; }
    get reason() { return slot(this).reason; }
    get onabort() { return slot(this).onabort; }
    set onabort(fn) {
      const s = slot(this);
      s.onabort = typeof fn === 'function' ? fn : null;
      if (!s.handlerInstalled) {
        s.handlerInstalled = true;
        this.addEventListener('abort', (e) => { if (s.onabort) s.onabort.call(this, e); });
      }
    }
    throwIfAborted() {
      const s = slot(this);
      if (s.aborted) throw s.reason;
    }
    static abort(reason) {
      const signal = new AbortSignal(INTERNAL);
      abortSignal(signal, reason);
      return signal;
    }
    static timeout(ms) {
      const signal = new AbortSignal(INTERNAL);
      globalThis.setTimeout(() => abortSignal(signal, new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
      return signal;
    }
    static any(signals) {
      const list = Array.from(signals);
      const signal = new AbortSignal(INTERNAL);
      const done = list.find((s) => s.aborted);
      if (done) abortSignal(signal, done.reason);
      else for (const s of list) s.addEventListener('abort', () => abortSignal(signal, s.reason), { once: true });
      return signal;
    }
  }
  tag(AbortSignal);

  class AbortController {
    constructor() { P.set(this, { signal: new AbortSignal(INTERNAL) }); }
    get signal() { return slot(this).signal; }
    abort(reason) { abortSignal(slot(this).signal, reason); }
  }
  tag(AbortController);

  // ---------------------------------------------------------------- UTF-8, TextEncoder, TextDecoder

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

  // ---------------------------------------------------------------- atob / btoa

  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

  function btoa(data) {
    needArgs(arguments, 1, 'btoa');
    data = String(data);
    if (/[^\0-\xff]/.test(data)) throw new DOMException('Invalid character', 'InvalidCharacterError');
    let out = '';
    for (let i = 0; i < data.length; i += 3) {
      const a = data.charCodeAt(i), b = data.charCodeAt(i + 1), c = data.charCodeAt(i + 2);
      const n = (a << 16) | ((b || 0) << 8) | (c || 0);
      out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < data.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < data.length ? B64[n & 63] : '=');
    }
    return out;
  }

  function atob(data) {
    needArgs(arguments, 1, 'atob');
    data = String(data).replace(/[\t\n\f\r ]/g, '');
    if (data.length % 4 === 0) data = data.replace(/==?$/, '');
    if (data.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(data)) {
      throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
    }
    let out = '', bits = 0, acc = 0;
    for (let i = 0; i < data.length; i++) {
      acc = (acc << 6) | B64.indexOf(data[i]);
      bits += 6;
      if (bits >= 8) { bits -= 8; out += String.fromCharCode((acc >> bits) & 0xff); }
    }
    return out;
  }

  // ---------------------------------------------------------------- structuredClone

  const ERROR_TYPES = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };

  function structuredClone(value, options) {
    needArgs(arguments, 1, 'structuredClone');
    const memo = new Map();
    const fail = (v) => {
      const what = v !== null && typeof v === 'object' ? `#<${(v.constructor && v.constructor.name) || 'Object'}>` : String(v);
      throw new DOMException(`${what} could not be cloned.`, 'DataCloneError');
    };
    const clone = (v) => {
      if (typeof v === 'function' || typeof v === 'symbol') fail(v);
      if (v === null || typeof v !== 'object') return v;
      if (memo.has(v)) return memo.get(v);
      const keep = (o) => (memo.set(v, o), o);
      if (P.has(v) || LISTENERS.has(v) || v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet ||
          (typeof WeakRef === 'function' && v instanceof WeakRef)) fail(v);
      if (Array.isArray(v)) {
        const out = keep(new Array(v.length));
        for (const k of Object.keys(v)) out[k] = clone(v[k]);
        return out;
      }
      if (v instanceof Date) return keep(new Date(v.getTime()));
      if (v instanceof RegExp) return keep(new RegExp(v.source, v.flags));
      if (v instanceof ArrayBuffer) return keep(v.slice(0));
      if (ArrayBuffer.isView(v)) {
        const buffer = clone(v.buffer);
        return keep(v instanceof DataView
          ? new DataView(buffer, v.byteOffset, v.byteLength)
          : new globalThis[v[Symbol.toStringTag]](buffer, v.byteOffset, v.length));
      }
      if (v instanceof Map) {
        const out = keep(new Map());
        for (const [k, x] of Array.from(v)) out.set(clone(k), clone(x));
        return out;
      }
      if (v instanceof Set) {
        const out = keep(new Set());
        for (const k of Array.from(v)) out.add(clone(k));
        return out;
      }
      if (v instanceof Error) {
        const C = ERROR_TYPES[v.name] || Error;
        const out = keep(new C());
        if (Object.prototype.hasOwnProperty.call(v, 'message')) hidden(out, 'message', String(v.message));
        if (typeof v.stack === 'string') hidden(out, 'stack', v.stack);
        if ('cause' in v) hidden(out, 'cause', clone(v.cause));
        return out;
      }
      if (v instanceof Boolean || v instanceof Number || v instanceof String || v instanceof BigInt) return keep(Object(v.valueOf()));
      const out = keep({});
      for (const k of Object.keys(v)) out[k] = clone(v[k]);
      return out;
    };
    return clone(value);
  }

  // ---------------------------------------------------------------- Headers

  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const headerName = (name) => {
    name = String(name);
    if (!TOKEN.test(name)) throw new TypeError(`Header name must be a valid HTTP token ["${name}"]`);
    return name.toLowerCase();
  };
  const isHeaderSpace = (c) => c === 32 || c === 9 || c === 10 || c === 13;
  const headerValue = (value) => {
    value = String(value);
    // Most values have no surrounding whitespace: no need to run the replace.
    if (value.length && (isHeaderSpace(value.charCodeAt(0)) || isHeaderSpace(value.charCodeAt(value.length - 1)))) {
      value = value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
    }
    if (/[\0\r\n]|[^\0-\xff]/.test(value)) throw new TypeError(`Invalid header value: "${value}"`);
    return value;
  };

  // Sorted, combined view; set-cookie values stay separate as the spec requires.
  function headerPairs(h) {
    const map = slot(h);
    const out = [];
    for (const k of Array.from(map.keys()).sort()) {
      const values = map.get(k);
      if (k === 'set-cookie') for (const v of values) out.push([k, v]);
      else out.push([k, values.join(', ')]);
    }
    return out;
  }

  class Headers {
    constructor(init) {
      const map = new Map();
      P.set(this, map);
      if (init == null) return;
      if (typeof init !== 'object' && typeof init !== 'function') {
        throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
      }
      if (init instanceof Headers) {
        for (const [k, values] of slot(init)) map.set(k, values.slice());
      } else if (Array.isArray(init) && init.every((pair) => Array.isArray(pair) && pair.length === 2)) {
        // The common case (fetch's responses): pairs as arrays, added without the generic path.
        for (let i = 0; i < init.length; i++) {
          const k = headerName(init[i][0]), v = headerValue(init[i][1]);
          const values = map.get(k);
          if (values) values.push(v);
          else map.set(k, [v]);
        }
      } else if (init[Symbol.iterator] != null) {
        for (const pair of init) {
          const p = typeof pair === 'string' ? [] : Array.from(pair);
          if (p.length !== 2) throw new TypeError('Header pairs must contain exactly two items');
          this.append(p[0], p[1]);
        }
      } else {
        for (const k of Object.keys(init)) this.append(k, init[k]);
      }
    }
    append(name, value) {
      needArgs(arguments, 2, "Failed to execute 'append' on 'Headers'");
      const map = slot(this), k = headerName(name), v = headerValue(value);
      const values = map.get(k);
      if (values) values.push(v);
      else map.set(k, [v]);
    }
    set(name, value) {
      needArgs(arguments, 2, "Failed to execute 'set' on 'Headers'");
      slot(this).set(headerName(name), [headerValue(value)]);
    }
    get(name) {
      const values = slot(this).get(headerName(name));
      return values ? values.join(', ') : null;
    }
    has(name) { return slot(this).has(headerName(name)); }
    delete(name) { slot(this).delete(headerName(name)); }
    getSetCookie() { return (slot(this).get('set-cookie') || []).slice(); }
    forEach(callback, thisArg) {
      for (const [k, v] of headerPairs(this)) callback.call(thisArg, v, k, this);
    }
    entries() { return headerPairs(this)[Symbol.iterator](); }
    keys() { return headerPairs(this).map((p) => p[0])[Symbol.iterator](); }
    values() { return headerPairs(this).map((p) => p[1])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
  }
  tag(Headers);

  // ---------------------------------------------------------------- URLSearchParams

  const isHex = (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

  function percentDecode(s) {
    const b = utf8Encode(s);
    const out = new Uint8Array(b.length);
    let n = 0;
    for (let i = 0; i < b.length; i++) {
      if (b[i] === 37 && isHex(b[i + 1]) && isHex(b[i + 2])) {
        out[n++] = parseInt(String.fromCharCode(b[i + 1], b[i + 2]), 16);
        i += 2;
      } else out[n++] = b[i];
    }
    return out.subarray(0, n);
  }

  const formDecode = (s) => {
    s = s.replace(/\+/g, ' ');
    return s.includes('%') ? decodeUTF8(percentDecode(s), true) : s;
  };
  const formEncode = (s) =>
    encodeURIComponent(usv(s)).replace(/[!'()~]|%20/g, (c) => (c === '%20' ? '+' : '%' + c.charCodeAt(0).toString(16).toUpperCase()));

  function parseQuery(s) {
    const list = [];
    for (const part of s.split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      list.push(i < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, i)), formDecode(part.slice(i + 1))]);
    }
    return list;
  }

  // Push the list back into the owning URL's query, if any.
  function updateURL(params) {
    const st = slot(params);
    if (!st.url) return;
    const s = params.toString();
    st.url.rec.query = s === '' ? null : s;
  }

  class URLSearchParams {
    constructor(init) {
      const st = { list: [], url: null };
      P.set(this, st);
      if (init == null) return;
      if (typeof init === 'object' || typeof init === 'function') {
        if (init instanceof URLSearchParams) {
          st.list = slot(init).list.map((p) => p.slice());
        } else if (init[Symbol.iterator] != null) {
          for (const pair of init) {
            const p = typeof pair === 'string' ? [] : Array.from(pair);
            if (p.length !== 2) throw new TypeError('Each query pair must be an iterable [name, value] tuple');
            st.list.push([usv(p[0]), usv(p[1])]);
          }
        } else {
          for (const k of Object.keys(init)) st.list.push([usv(k), usv(init[k])]);
        }
      } else {
        const s = usv(init);
        st.list = parseQuery(s[0] === '?' ? s.slice(1) : s);
      }
    }
    get size() { return slot(this).list.length; }
    append(name, value) {
      needArgs(arguments, 2, "Failed to execute 'append' on 'URLSearchParams'");
      slot(this).list.push([usv(name), usv(value)]);
      updateURL(this);
    }
    delete(name, value) {
      const st = slot(this);
      name = usv(name);
      value = value === undefined ? undefined : usv(value);
      st.list = st.list.filter(([k, v]) => k !== name || (value !== undefined && v !== value));
      updateURL(this);
    }
    get(name) {
      name = usv(name);
      const p = slot(this).list.find((q) => q[0] === name);
      return p ? p[1] : null;
    }
    getAll(name) {
      name = usv(name);
      return slot(this).list.filter((q) => q[0] === name).map((q) => q[1]);
    }
    has(name, value) {
      name = usv(name);
      value = value === undefined ? undefined : usv(value);
      return slot(this).list.some(([k, v]) => k === name && (value === undefined || v === value));
    }
    set(name, value) {
      needArgs(arguments, 2, "Failed to execute 'set' on 'URLSearchParams'");
      const st = slot(this);
      name = usv(name);
      value = usv(value);
      const i = st.list.findIndex((q) => q[0] === name);
      if (i < 0) st.list.push([name, value]);
      else {
        st.list[i][1] = value;
        st.list = st.list.filter((q, j) => j <= i || q[0] !== name);
      }
      updateURL(this);
    }
    sort() {
      slot(this).list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); // stable, by UTF-16 code units
      updateURL(this);
    }
    forEach(callback, thisArg) {
      if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
      const st = slot(this);
      for (let i = 0; i < st.list.length; i++) callback.call(thisArg, st.list[i][1], st.list[i][0], this);
    }
    *entries() {
      const st = slot(this);
      for (let i = 0; i < st.list.length; i++) yield [st.list[i][0], st.list[i][1]];
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return slot(this).list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&'); }
  }
  tag(URLSearchParams);

  // ---------------------------------------------------------------- URL parsing (WHATWG, simplified)

  const SPECIAL = { __proto__: null, ftp: 21, file: null, http: 80, https: 443, ws: 80, wss: 443 };
  const isSpecial = (scheme) => scheme in SPECIAL;

  // Percent-encode sets as 128-entry tables; code points >= 0x80 are always encoded.
  const encodeSet = (chars, base) => {
    const set = new Uint8Array(128);
    if (base) set.set(base);
    for (let c = 0; c < 0x20; c++) set[c] = 1;
    set[0x7f] = 1;
    for (const ch of chars) set[ch.charCodeAt(0)] = 1;
    return set;
  };
  const C0_SET = encodeSet('');
  const FRAGMENT_SET = encodeSet(' "<>`', C0_SET);
  const QUERY_SET = encodeSet(' "#<>', C0_SET);
  const SPECIAL_QUERY_SET = encodeSet("'", QUERY_SET);
  const PATH_SET = encodeSet('?`{}', QUERY_SET);
  const USERINFO_SET = encodeSet('/:;=@[\\]^|', PATH_SET);

  function encode(s, set) {
    s = usv(s);
    let i = 0;
    for (let c; i < s.length && (c = s.charCodeAt(i)) < 0x80 && !set[c]; i++);
    if (i === s.length) return s;
    let out = s.slice(0, i);
    for (const ch of s.slice(i)) {
      const c = ch.codePointAt(0);
      if (c >= 0x80) out += encodeURIComponent(ch);
      else if (set[c]) out += '%' + (c < 16 ? '0' : '') + c.toString(16).toUpperCase();
      else out += ch;
    }
    return out;
  }

  const stripTabs = (v) => String(v).replace(/[\t\n\r]/g, '');

  function punycode(label) {
    const cps = Array.from(label, (c) => c.codePointAt(0));
    const digit = (d) => String.fromCharCode(d < 26 ? 97 + d : 22 + d);
    const adapt = (delta, points, first) => {
      delta = first ? Math.floor(delta / 700) : delta >> 1;
      delta += Math.floor(delta / points);
      let k = 0;
      for (; delta > 455; k += 36) delta = Math.floor(delta / 35);
      return k + Math.floor((36 * delta) / (delta + 38));
    };
    let out = cps.filter((c) => c < 0x80).map((c) => String.fromCharCode(c)).join('');
    const basic = out.length;
    let h = basic, n = 128, delta = 0, bias = 72;
    if (basic) out += '-';
    while (h < cps.length) {
      let m = Infinity;
      for (const c of cps) if (c >= n && c < m) m = c;
      delta += (m - n) * (h + 1);
      n = m;
      for (const c of cps) {
        if (c < n) delta++;
        if (c !== n) continue;
        let q = delta;
        for (let k = 36; ; k += 36) {
          const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
          if (q < t) break;
          out += digit(t + ((q - t) % (36 - t)));
          q = Math.floor((q - t) / (36 - t));
        }
        out += digit(q);
        bias = adapt(delta, h + 1, h === basic);
        delta = 0;
        h++;
      }
      delta++;
      n++;
    }
    return out;
  }

  // Approximates UTS #46 with NFKC + lowercase, then Punycode for non-ASCII labels.
  function domainToASCII(domain) {
    if (!/[^\0-\x7f]/.test(domain)) return domain.toLowerCase();
    return domain.normalize('NFKC').toLowerCase().replace(/[\u3002\uff0e\uff61]/g, '.').split('.')
      .map((l) => (/[^\0-\x7f]/.test(l) ? 'xn--' + punycode(l) : l)).join('.');
  }

  function endsInNumber(host) {
    const parts = host.split('.');
    if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
    const last = parts[parts.length - 1];
    return /^\d+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
  }

  function parseIPv4(host) {
    const parts = host.split('.');
    if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
    if (parts.length > 4) return null;
    const nums = [];
    for (let p of parts) {
      if (p === '') return null;
      let re = /^\d+$/, radix = 10;
      if (/^0x/i.test(p)) { p = p.slice(2); re = /^[0-9a-f]+$/i; radix = 16; }
      else if (p.length > 1 && p[0] === '0') { p = p.slice(1); re = /^[0-7]+$/; radix = 8; }
      if (p === '') { nums.push(0); continue; }
      if (!re.test(p)) return null;
      nums.push(parseInt(p, radix));
    }
    const last = nums.pop();
    if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
    let ip = last;
    nums.forEach((n, i) => { ip += n * 256 ** (3 - i); });
    return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
  }

  function parseIPv6(input) {
    const addr = [0, 0, 0, 0, 0, 0, 0, 0];
    let piece = 0, compress = null, p = 0;
    const c = () => input[p];
    const isDigit = (ch) => ch !== undefined && ch >= '0' && ch <= '9';
    if (c() === ':') {
      if (input[p + 1] !== ':') return null;
      p += 2;
      compress = ++piece;
    }
    while (p < input.length) {
      if (piece === 8) return null;
      if (c() === ':') {
        if (compress !== null) return null;
        p++;
        compress = ++piece;
        continue;
      }
      let value = 0, length = 0;
      while (length < 4 && p < input.length && /[0-9a-f]/i.test(c())) {
        value = value * 16 + parseInt(c(), 16);
        p++;
        length++;
      }
      if (c() === '.') {
        if (length === 0 || piece > 6) return null;
        p -= length;
        let seen = 0;
        while (p < input.length) {
          let v4 = null;
          if (seen > 0) {
            if (c() === '.' && seen < 4) p++;
            else return null;
          }
          if (!isDigit(c())) return null;
          while (isDigit(c())) {
            const n = +c();
            if (v4 === null) v4 = n;
            else if (v4 === 0) return null;
            else v4 = v4 * 10 + n;
            if (v4 > 255) return null;
            p++;
          }
          addr[piece] = addr[piece] * 256 + v4;
          seen++;
          if (seen === 2 || seen === 4) piece++;
        }
        if (seen !== 4) return null;
        break;
      } else if (c() === ':') {
        p++;
        if (p >= input.length) return null;
      } else if (p < input.length) return null;
      addr[piece++] = value;
    }
    if (compress !== null) {
      let swaps = piece - compress;
      piece = 7;
      while (piece !== 0 && swaps > 0) {
        const j = compress + swaps - 1;
        [addr[piece], addr[j]] = [addr[j], addr[piece]];
        piece--;
        swaps--;
      }
    } else if (piece !== 8) return null;
    return addr;
  }

  function serializeIPv6(a) {
    let best = -1, bestLen = 1;
    for (let i = 0; i < 8;) {
      if (a[i] !== 0) { i++; continue; }
      let j = i;
      while (j < 8 && a[j] === 0) j++;
      if (j - i > bestLen) { best = i; bestLen = j - i; }
      i = j;
    }
    let out = '';
    for (let i = 0; i < 8; i++) {
      if (i === best) { out += i === 0 ? '::' : ':'; i += bestLen - 1; continue; }
      out += a[i].toString(16) + (i < 7 ? ':' : '');
    }
    return out;
  }

  // Returns the serialized host, or null on failure.
  function parseHost(input, opaque) {
    if (input[0] === '[') {
      if (input[input.length - 1] !== ']') return null;
      const a = parseIPv6(input.slice(1, -1));
      return a && '[' + serializeIPv6(a) + ']';
    }
    if (opaque) return /[\0\t\n\r #/:<>?@[\\\]^|]/.test(input) ? null : encode(input, C0_SET);
    const domain = decodeUTF8(percentDecode(input), true);
    if (domain.includes('\uFFFD')) return null;
    const ascii = domainToASCII(domain);
    if (ascii === '' || /[\0-\x20#%/:<>?@[\\\]^|\x7f]/.test(ascii)) return null;
    return endsInNumber(ascii) ? parseIPv4(ascii) : ascii;
  }

  const DRIVE = /^[A-Za-z][:|]$/;
  const NORMALIZED_DRIVE = /^[A-Za-z]:$/;

  function shorten(path, r) {
    if (r.scheme === 'file' && path.length === 1 && NORMALIZED_DRIVE.test(path[0])) return;
    path.pop();
  }

  // Appends the segments of `str` (a path without its leading slash) to `path`.
  function parsePath(str, path, r) {
    const parts = str.split(isSpecial(r.scheme) ? /[/\\]/ : '/');
    for (let i = 0; i < parts.length; i++) {
      const seg = parts[i], lower = seg.toLowerCase(), last = i === parts.length - 1;
      if (lower === '..' || lower === '.%2e' || lower === '%2e.' || lower === '%2e%2e') {
        shorten(path, r);
        if (last) path.push('');
      } else if (lower === '.' || lower === '%2e') {
        if (last) path.push('');
      } else if (r.scheme === 'file' && path.length === 0 && DRIVE.test(seg)) {
        if (r.host) r.host = '';
        path.push(seg[0] + ':');
      } else path.push(encode(seg, PATH_SET));
    }
    return path;
  }

  function splitHostPort(auth) {
    let inBrackets = false;
    for (let i = 0; i < auth.length; i++) {
      const ch = auth[i];
      if (ch === '[') inBrackets = true;
      else if (ch === ']') inBrackets = false;
      else if (ch === ':' && !inBrackets) return [auth.slice(0, i), auth.slice(i + 1)];
    }
    return [auth, null];
  }

  // The WHATWG URL parser, native (the host's `url` crate): `base` is a URL record.
  function parseURL(input, base) {
    return natives.parseURL(usv(input), base ? serializeURL(base) : null);
  }

  const pathname = (r) => (r.opaque ? r.path : r.path.map((s) => '/' + s).join(''));

  function serializeURL(r) {
    let s = r.scheme + ':';
    if (r.host !== null) {
      s += '//';
      if (r.username || r.password) s += r.username + (r.password ? ':' + r.password : '') + '@';
      s += r.host + (r.port !== null ? ':' + r.port : '');
    } else if (!r.opaque && r.path.length > 1 && r.path[0] === '') {
      s += '/.'; // keeps "/.//x" from reading as an authority
    }
    s += pathname(r);
    if (r.query !== null) s += '?' + r.query;
    if (r.fragment !== null) s += '#' + r.fragment;
    return s;
  }

  function originOf(r) {
    if (r.scheme === 'blob') {
      const inner = parseURL(pathname(r), null);
      return inner && (inner.scheme === 'http' || inner.scheme === 'https') ? originOf(inner) : 'null';
    }
    if (isSpecial(r.scheme) && r.scheme !== 'file') return r.scheme + '://' + r.host + (r.port !== null ? ':' + r.port : '');
    return 'null';
  }

  const invalidURL = (input) => {
    const e = new TypeError(`Invalid URL: ${input}`);
    hidden(e, 'code', 'ERR_INVALID_URL');
    hidden(e, 'input', input);
    return e;
  };

  // Shared by the host/hostname setters (the basic parser with a host state override).
  function setHost(r, value, hostnameOnly) {
    if (r.opaque) return;
    const special = isSpecial(r.scheme);
    value = stripTabs(value);
    const end = value.search(special ? /[/\\?#]/ : /[/?#]/);
    if (end >= 0) value = value.slice(0, end);
    if (r.scheme === 'file') {
      if (value === '') { r.host = ''; return; }
      const host = parseHost(value, false);
      if (host !== null) r.host = host === 'localhost' ? '' : host;
      return;
    }
    const [hostStr, portStr] = splitHostPort(value);
    if (portStr !== null && hostnameOnly) return;
    if (hostStr === '') {
      if (special || portStr !== null || r.username || r.password || r.port !== null) return;
      r.host = '';
      return;
    }
    const host = parseHost(hostStr, !special);
    if (host === null) return;
    r.host = host; // set even when the port below turns out invalid, as the spec's parser does
    const digits = portStr === null ? '' : /^\d*/.exec(portStr)[0];
    if (digits !== '' && +digits <= 65535) r.port = SPECIAL[r.scheme] === +digits ? null : String(+digits);
  }

  const cannotHaveCredentials = (r) => r.host === null || r.host === '' || r.scheme === 'file';

  class URL {
    constructor(url, base) {
      needArgs(arguments, 1, "Failed to construct 'URL'");
      url = String(url);
      let b = null;
      if (base !== undefined) {
        b = parseURL(base, null);
        if (!b) throw invalidURL(url);
      }
      const rec = parseURL(url, b);
      if (!rec) throw invalidURL(url);
      const params = new URLSearchParams();
      const st = { rec, params };
      P.set(this, st);
      const ps = slot(params);
      ps.list = parseQuery(rec.query || '');
      ps.url = st;
    }
    static canParse(url, base) {
      try { new URL(url, base); return true; } catch { return false; }
    }
    static parse(url, base) {
      try { return new URL(url, base); } catch { return null; }
    }
    get href() { return serializeURL(slot(this).rec); }
    set href(value) {
      const st = slot(this);
      const rec = parseURL(value, null);
      if (!rec) throw invalidURL(String(value));
      st.rec = rec;
      slot(st.params).list = parseQuery(rec.query || '');
    }
    get origin() { return originOf(slot(this).rec); }
    get protocol() { return slot(this).rec.scheme + ':'; }
    set protocol(value) {
      const r = slot(this).rec;
      const m = /^([A-Za-z][A-Za-z0-9+\-.]*)(?::|$)/.exec(stripTabs(value));
      if (!m) return;
      const scheme = m[1].toLowerCase();
      if (isSpecial(scheme) !== isSpecial(r.scheme)) return;
      if (scheme === 'file' && (r.username || r.password || r.port !== null)) return;
      if (r.scheme === 'file' && r.host === '') return;
      r.scheme = scheme;
      if (r.port !== null && SPECIAL[scheme] === +r.port) r.port = null;
    }
    get username() { return slot(this).rec.username; }
    set username(value) {
      const r = slot(this).rec;
      if (!cannotHaveCredentials(r)) r.username = encode(value, USERINFO_SET);
    }
    get password() { return slot(this).rec.password; }
    set password(value) {
      const r = slot(this).rec;
      if (!cannotHaveCredentials(r)) r.password = encode(value, USERINFO_SET);
    }
    get host() {
      const r = slot(this).rec;
      return r.host === null ? '' : r.port === null ? r.host : r.host + ':' + r.port;
    }
    set host(value) { setHost(slot(this).rec, value, false); }
    get hostname() { return slot(this).rec.host ?? ''; }
    set hostname(value) { setHost(slot(this).rec, value, true); }
    get port() { return slot(this).rec.port ?? ''; }
    set port(value) {
      const r = slot(this).rec;
      if (cannotHaveCredentials(r)) return;
      value = stripTabs(value);
      if (value === '') { r.port = null; return; }
      const digits = /^\d*/.exec(value)[0];
      if (digits === '' || +digits > 65535) return;
      r.port = SPECIAL[r.scheme] === +digits ? null : String(+digits);
    }
    get pathname() { return pathname(slot(this).rec); }
    set pathname(value) {
      const r = slot(this).rec;
      if (r.opaque) return;
      value = stripTabs(value);
      const special = isSpecial(r.scheme);
      if (special ? /^[/\\]/.test(value) : value[0] === '/') value = value.slice(1);
      else if (!special && value === '') { r.path = r.host === null ? [''] : []; return; }
      r.path = parsePath(value, [], r);
    }
    get search() {
      const q = slot(this).rec.query;
      return q ? '?' + q : '';
    }
    set search(value) {
      const st = slot(this), r = st.rec;
      value = stripTabs(value);
      if (value === '') {
        r.query = null;
        slot(st.params).list = [];
        return;
      }
      if (value[0] === '?') value = value.slice(1);
      r.query = encode(value, isSpecial(r.scheme) ? SPECIAL_QUERY_SET : QUERY_SET);
      slot(st.params).list = parseQuery(r.query);
    }
    get hash() {
      const f = slot(this).rec.fragment;
      return f ? '#' + f : '';
    }
    set hash(value) {
      const r = slot(this).rec;
      value = stripTabs(value);
      if (value === '') { r.fragment = null; return; }
      r.fragment = encode(value[0] === '#' ? value.slice(1) : value, FRAGMENT_SET);
    }
    get searchParams() { return slot(this).params; }
    toString() { return this.href; }
    toJSON() { return this.href; }
  }
  tag(URL);

  // ---------------------------------------------------------------- Body, Response, Request

  const TEXT_TYPE = 'text/plain;charset=UTF-8';
  const FORM_TYPE = 'application/x-www-form-urlencoded;charset=UTF-8';
  const NULL_BODY_STATUS = [101, 103, 204, 205, 304];
  const REDIRECT_STATUS = [301, 302, 303, 307, 308];

  const copyData = (d) => (d instanceof Uint8Array ? d.slice() : d);
  const toBytes = (d) => (d == null ? new Uint8Array(0) : typeof d === 'string' ? utf8Encode(d) : new Uint8Array(toU8(d)));
  const unusable = () => new TypeError('Body is unusable: Body has already been read');

  // A stand-in for ReadableStream: one chunk holding the whole body, enough to read it
  // or to hand it to another Response/Request (new Response(other.body)).
  class BodyStream {
    constructor(owner) { P.set(this, { owner, locked: false }); }
    get locked() { return slot(this).locked; }
    getReader() {
      const st = slot(this);
      if (st.locked) throw new TypeError('ReadableStream is locked');
      st.locked = true;
      let done = false;
      return {
        read() {
          if (done) return Promise.resolve({ value: undefined, done: true });
          done = true;
          const s = slot(st.owner);
          if (s.used) return Promise.reject(unusable());
          s.used = true;
          return Promise.resolve({ value: toBytes(st.owner.__fluxBody), done: false });
        },
        releaseLock() { st.locked = false; },
        cancel() { done = true; slot(st.owner).used = true; return Promise.resolve(); },
        closed: Promise.resolve(),
      };
    }
    cancel() { slot(slot(this).owner).used = true; return Promise.resolve(); }
    async *[Symbol.asyncIterator]() {
      const reader = this.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    }
  }
  tag(BodyStream, 'ReadableStream');

  // Returns [data, contentType] where data is a string, a Uint8Array or null.
  function extractBody(body) {
    if (body == null) return [null, null];
    if (typeof body === 'string') return [body, TEXT_TYPE];
    if (body instanceof URLSearchParams) return [body.toString(), FORM_TYPE];
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return [new Uint8Array(toU8(body)), null];
    if (body instanceof BodyStream) {
      const st = slot(body), owner = slot(st.owner);
      if (owner.used || st.locked) throw new TypeError('Response body object should not be disturbed or locked');
      owner.used = true;
      return [copyData(st.owner.__fluxBody), null];
    }
    return [String(body), TEXT_TYPE];
  }

  // The raw body lives in a non-enumerable own property so the host can read it synchronously.
  function setupBody(obj, data, state) {
    state.used = false;
    state.stream = null;
    P.set(obj, state);
    hidden(obj, '__fluxBody', data);
    return obj;
  }

  function consume(obj) {
    let st;
    try { st = slot(obj); } catch (e) { return Promise.reject(e); }
    if (st.used) return Promise.reject(unusable());
    const data = obj.__fluxBody;
    if (data != null) st.used = true;
    return Promise.resolve(data);
  }

  class Body {
    get bodyUsed() { return slot(this).used; }
    get body() {
      const st = slot(this);
      if (this.__fluxBody == null) return null;
      return st.stream || (st.stream = new BodyStream(this));
    }
    text() {
      return consume(this).then((d) => (d == null ? '' : typeof d === 'string' ? d.replace(/^\uFEFF/, '') : decodeUTF8(toU8(d), false)));
    }
    json() {
      // The parse runs after an await, where no frame of the caller is left: its error gets the
      // stack of the call to json(), so that it points at the caller's line.
      const calledFrom = new Error().stack;
      return this.text().then((t) => {
        try {
          return JSON.parse(t);
        } catch (e) {
          if (e instanceof Error) hidden(e, 'stack', calledFrom);
          throw e;
        }
      });
    }
    arrayBuffer() { return consume(this).then((d) => toBytes(d).buffer); }
    bytes() { return consume(this).then(toBytes); }
  }

  const toStatus = (v) => {
    const n = Math.trunc(Number(v));
    return Number.isFinite(n) ? ((n % 65536) + 65536) % 65536 : 0;
  };

  class Response extends Body {
    constructor(body = null, init = undefined) {
      super();
      init = init ?? {};
      const status = init.status === undefined ? 200 : toStatus(init.status);
      if (status < 200 || status > 599) throw new RangeError('init["status"] must be in the range of 200 to 599, inclusive.');
      const statusText = init.statusText === undefined ? '' : String(init.statusText);
      if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(statusText)) throw new TypeError('Invalid statusText');
      const headers = new Headers(init.headers);
      if (body != null && NULL_BODY_STATUS.includes(status)) throw new TypeError(`Response with null body status ${status} cannot have body`);
      const [data, type] = extractBody(body);
      if (type && !headers.has('content-type')) headers.set('content-type', type);
      setupBody(this, data, { status, statusText, headers, type: 'default', url: '', redirected: false });
      // A 5xx answer is a failure: where it was made is its location in the record.
      if (status >= 500) hidden(this, '__fluxMadeAt', new Error().stack);
    }
    get ok() {
      const s = slot(this).status;
      return s >= 200 && s <= 299;
    }
    clone() {
      const st = slot(this);
      if (st.used) throw new TypeError('Response.clone: Body has already been consumed.');
      return setupBody(Object.create(Response.prototype), copyData(this.__fluxBody), { ...st, headers: new Headers(st.headers) });
    }
    static error() {
      return setupBody(Object.create(Response.prototype), null,
        { status: 0, statusText: '', headers: new Headers(), type: 'error', url: '', redirected: false });
    }
    static redirect(url, status = 302) {
      const href = new URL(url).href;
      status = toStatus(status);
      if (!REDIRECT_STATUS.includes(status)) throw new RangeError(`Invalid status code ${status}`);
      return setupBody(Object.create(Response.prototype), null,
        { status, statusText: '', headers: new Headers({ location: href }), type: 'default', url: '', redirected: false });
    }
    static json(data, init) {
      const body = JSON.stringify(data);
      if (body === undefined) throw new TypeError('Value is not JSON serializable');
      init = init ?? {};
      const headers = new Headers(init.headers);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      return new Response(body, { status: init.status, statusText: init.statusText, headers });
    }
  }
  getters(Response, ['status', 'statusText', 'headers', 'type', 'url', 'redirected']);
  tag(Response);

  const NORMALIZED_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'];
  const FORBIDDEN_METHODS = ['CONNECT', 'TRACE', 'TRACK'];
  const REQUEST_DEFAULTS = {
    redirect: 'follow', credentials: 'same-origin', mode: 'cors', cache: 'default', referrer: 'about:client',
    referrerPolicy: '', integrity: '', keepalive: false, destination: '', duplex: 'half',
  };

  class Request extends Body {
    constructor(input, init = undefined) {
      needArgs(arguments, 1, "Failed to construct 'Request'");
      super();
      init = init ?? {};
      const src = input instanceof Request ? slot(input) : null;
      let url;
      if (src) url = src.url;
      else {
        const rec = parseURL(input instanceof URL ? input.href : input, null);
        if (!rec) throw invalidURL(String(input));
        if (rec.username || rec.password) throw new TypeError(`Request cannot be constructed from a URL that includes credentials: ${input}`);
        url = serializeURL(rec);
      }
      let method = src ? src.method : 'GET';
      if (init.method !== undefined) {
        method = String(init.method);
        if (!TOKEN.test(method)) throw new TypeError(`'${method}' is not a valid HTTP method.`);
        const upper = method.toUpperCase();
        if (FORBIDDEN_METHODS.includes(upper)) throw new TypeError(`'${method}' HTTP method is unsupported.`);
        if (NORMALIZED_METHODS.includes(upper)) method = upper;
      }
      const headers = new Headers(init.headers !== undefined ? init.headers : src ? src.headers : undefined);
      const inputBody = src ? input.__fluxBody : null;
      if ((init.body != null || inputBody != null) && (method === 'GET' || method === 'HEAD')) {
        throw new TypeError('Request with GET/HEAD method cannot have body.');
      }
      let data = null, type = null;
      if (init.body != null) [data, type] = extractBody(init.body);
      else if (inputBody != null) {
        if (src.used) throw new TypeError('Cannot construct a Request with a Request object that has already been used.');
        data = copyData(inputBody);
        src.used = true;
      }
      if (type && !headers.has('content-type')) headers.set('content-type', type);
      if (init.signal != null && !(init.signal instanceof AbortSignal)) {
        throw new TypeError("Failed to construct 'Request': 'signal' must be an AbortSignal (e.g. AbortSignal.timeout(5000))");
      }
      const state = { url, method, headers, signal: init.signal || (src && src.signal) || new AbortController().signal };
      for (const k of Object.keys(REQUEST_DEFAULTS)) {
        state[k] = init[k] !== undefined ? init[k] : src ? src[k] : REQUEST_DEFAULTS[k];
      }
      setupBody(this, data, state);
    }
    clone() {
      const st = slot(this);
      if (st.used) throw new TypeError('Request.clone: Body has already been consumed.');
      return setupBody(Object.create(Request.prototype), copyData(this.__fluxBody), { ...st, headers: new Headers(st.headers) });
    }
  }
  getters(Request, ['url', 'method', 'headers', 'signal', ...Object.keys(REQUEST_DEFAULTS)]);
  tag(Request);

  // ---------------------------------------------------------------- install

  const globals = {
    DOMException, Event, EventTarget, AbortController, AbortSignal, TextEncoder, TextDecoder,
    atob, btoa, structuredClone, Headers, URLSearchParams, URL, Response, Request,
  };
  for (const name of Object.keys(globals)) hidden(globalThis, name, globals[name]);

  // For the host's glue (host.js), which builds what the host hands back.
  return {
    // `input` serialized when it is an absolute URL, else null.
    hrefOf(input) {
      const r = parseURL(input, null);
      return r && serializeURL(r);
    },
    // A fetched response: its header names come lowercase and valid from the HTTP client.
    responseFromHost(status, statusText, pairs, body, url) {
      const headers = new Headers();
      const map = slot(headers);
      for (let i = 0; i < pairs.length; i++) {
        const [k, v] = pairs[i];
        const values = map.get(k);
        if (values) values.push(v);
        else map.set(k, [v]);
      }
      return setupBody(Object.create(Response.prototype), body,
        { status, statusText, headers, type: 'basic', url, redirected: false });
    },
  };
})
