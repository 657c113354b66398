// The Fetch standard: Headers, Body, Response and Request.
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, Array, JSON, Promise, Error, TypeError, RangeError, Symbol, Map, String, Number, Math, Uint8Array, ArrayBuffer, P, slot, hidden, tag, getters, needArgs, iterable, AbortSignal, AbortController, utf8Encode, decodeUTF8, toU8, URLSearchParams, parseURL, serializeURL, invalidURL, URL, Blob, makeBlob, blobBytes, FormData, encodeMultipart, parseFormBody } = web;

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

  // WebIDL ByteString: a string of code units up to U+00FF (a Symbol throws too).
  const byteString = (value) => {
    const s = `${value}`;
    if (/[^\x00-\xFF]/.test(s)) throw new TypeError(`Cannot convert ${JSON.stringify(s)} to a ByteString`);
    return s;
  };

  class Headers {
    constructor(init) {
      const map = new Map();
      P.set(this, map);
      if (init === undefined) return;
      if ((typeof init !== 'object' && typeof init !== 'function') || init === null) {
        throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
      }
      // WebIDL's union conversion, step by step (a Proxy sees exactly these operations).
      const iterator = init[Symbol.iterator];
      if (P.has(init) && iterator === Headers.prototype[Symbol.iterator]) {
        for (const [k, values] of slot(init)) map.set(k, values.slice());
        return;
      }
      // The whole init is converted before any header is added, as WebIDL does.
      const pairs = [];
      if (iterator !== undefined && iterator !== null) {
        if (typeof iterator !== 'function') throw new TypeError('Header pairs are not iterable');
        for (const pair of { [Symbol.iterator]: () => iterator.call(init) }) {
          if ((typeof pair !== 'object' && typeof pair !== 'function') || pair === null) {
            throw new TypeError('Header pairs must be sequences of two items');
          }
          const p = Array.from(pair, byteString);
          if (p.length !== 2) throw new TypeError('Header pairs must contain exactly two items');
          pairs.push(p);
        }
      } else {
        // record<ByteString, ByteString>: own enumerable keys in order (a Symbol key throws).
        for (const key of Reflect.ownKeys(init)) {
          const desc = Reflect.getOwnPropertyDescriptor(init, key);
          if (desc !== undefined && desc.enumerable) pairs.push([byteString(key), byteString(init[key])]);
        }
      }
      for (const [name, value] of pairs) this.append(name, value);
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
  }
  iterable(Headers, headerPairs);
  tag(Headers);


  const TEXT_TYPE = 'text/plain;charset=UTF-8';
  const FORM_TYPE = 'application/x-www-form-urlencoded;charset=UTF-8';
  const NULL_BODY_STATUS = [101, 103, 204, 205, 304];
  const REDIRECT_STATUS = [301, 302, 303, 307, 308];

  // A Content-Type as a Blob's type: printable ASCII, lowercase (else none).
  const blobType = (t) => (/^[\x20-\x7e]*$/.test(t) ? t.toLowerCase() : '');
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
    if (body instanceof Blob) return [blobBytes(body), body.type || null];
    if (body instanceof FormData) return encodeMultipart(body);
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
    blob() {
      const type = slot(this).headers.get('content-type');
      return consume(this).then((d) => makeBlob(toBytes(d), type === null ? '' : blobType(type)));
    }
    formData() {
      const type = slot(this).headers.get('content-type');
      return consume(this).then((d) => parseFormBody(toBytes(d), type));
    }
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

  Object.assign(web, { Headers, Response, Request, setupBody });
})
