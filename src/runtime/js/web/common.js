// Web-standard globals for the flux runtime, in pure JavaScript, one file per standard.
// Each file is a plain script evaluated in a fresh QuickJS context before user code, in the order
// worker.rs lists them. This one makes `web`: the built-ins the files use, captured before user code
// can replace the globals, the natives the host hands in (`natives.parseURL`), and the shared helpers.
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


  return {
    natives, Object, Array, JSON, Promise, Error, TypeError, RangeError, Symbol, WeakMap, Map, String, Number, Math, Date, Uint8Array, ArrayBuffer,
    P, slot, hidden, tag, getters, needArgs, report, usv,
  };
})
