// HTML's structured clone: structuredClone.
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, Array, Promise, Error, TypeError, RangeError, Symbol, WeakMap, Map, String, Number, Date, ArrayBuffer, P, hidden, needArgs, DOMException, LISTENERS } = web;

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

  Object.assign(web, { structuredClone });
})
