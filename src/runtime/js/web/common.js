// Web-standard globals for the flux runtime, in pure JavaScript, one file per standard.
// Each file is a plain script evaluated in a fresh QuickJS context before user code, in the order
// worker.rs lists them. This one makes `web`: the built-ins the files use, captured before user code
// can replace the globals, the natives the host hands in (`natives.urlParse`), and the shared helpers.
// Every later file takes what it uses from `web` and adds what it defines; install.js puts the
// globals in place and returns the helpers host.js uses. The host defines console, fetch, timers and
// crypto. Only AbortSignal.timeout (setTimeout) and listener-error reporting (console.error) touch them.
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

  // WebIDL pair iterators (`iterable<K, V>`): entries/keys/values/forEach/@@iterator on C, whose
  // iterators read `list(o)` again at every step, so changes made while iterating are seen.
  const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
  const iterable = (C, list) => {
    const state = new WeakMap();
    const proto = Object.create(IteratorPrototype);
    Object.defineProperty(proto, 'next', {
      value: function next() {
        const st = state.get(this);
        if (st === undefined) throw new TypeError('Illegal invocation');
        const pairs = list(st.target);
        if (st.index >= pairs.length) return { value: undefined, done: true };
        const [k, v] = pairs[st.index++];
        return { value: st.kind === 'keys' ? k : st.kind === 'values' ? v : [k, v], done: false };
      },
      writable: true, enumerable: true, configurable: true,
    });
    Object.defineProperty(proto, Symbol.toStringTag, { value: `${C.name} Iterator`, configurable: true });
    const method = (value) => ({ value, writable: true, enumerable: true, configurable: true });
    const iterator = (kind) => ({
      [kind]() {
        list(this); // the brand check
        const it = Object.create(proto);
        state.set(it, { target: this, kind, index: 0 });
        return it;
      },
    })[kind];
    const entries = iterator('entries');
    Object.defineProperties(C.prototype, {
      entries: method(entries),
      keys: method(iterator('keys')),
      values: method(iterator('values')),
      forEach: method(function forEach(callback, thisArg = undefined) {
        if (typeof callback !== 'function') throw new TypeError(`Failed to execute 'forEach' on '${C.name}': parameter 1 is not of type 'Function'.`);
        let pairs = list(this);
        for (let i = 0; i < pairs.length; i++, pairs = list(this)) callback.call(thisArg, pairs[i][1], pairs[i][0], this);
      }),
      [Symbol.iterator]: { value: entries, writable: true, enumerable: false, configurable: true },
    });
  };

  return {
    natives, Object, Array, JSON, Promise, Error, TypeError, RangeError, Symbol, WeakMap, Map, String, Number, Math, Date, Uint8Array, ArrayBuffer,
    P, slot, hidden, tag, getters, needArgs, report, usv, iterable,
  };
})
