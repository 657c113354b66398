// HTML's structured clone: structuredClone.
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, Array, Promise, Error, TypeError, RangeError, Symbol, WeakMap, Map, String, Number, Date, ArrayBuffer, P, slot, hidden, needArgs, DOMException, LISTENERS, Blob, File, makeBlob, makeFile, blobBytes } = web;

  const ERROR_TYPES = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };

  // The buffers of `options.transfer`, checked: each an ArrayBuffer, attached, listed once.
  function transferList(options) {
    if (options === undefined || options === null) return [];
    if (typeof options !== 'object' && typeof options !== 'function') {
      throw new TypeError("Failed to execute 'structuredClone': The provided value is not of type 'StructuredSerializeOptions'.");
    }
    if (options.transfer === undefined) return [];
    const list = Array.from(options.transfer);
    for (let i = 0; i < list.length; i++) {
      const t = list[i];
      if (!(t instanceof ArrayBuffer)) {
        throw new DOMException('Value not transferable', 'DataCloneError');
      }
      if (t.detached) throw new DOMException('An ArrayBuffer is detached and could not be cloned.', 'DataCloneError');
      if (list.indexOf(t) !== i) throw new DOMException('ArrayBuffer at index ' + i + ' is a duplicate of an earlier ArrayBuffer.', 'DataCloneError');
    }
    return list;
  }

  function structuredClone(value, options = undefined) {
    needArgs(arguments, 1, 'structuredClone');
    const transfer = transferList(options);
    if (transfer.length) {
      // Serialized first, transferred after (as the standard orders it): a value that cannot
      // be cloned leaves the buffers attached. The trial maps them to themselves, uncopied.
      // It also notes where each view lies in its buffer, which a detached buffer's views forget.
      const views = new Map();
      cloneWith(value, new Map(transfer.map((t) => [t, t])), views);
      // ArrayBuffer.prototype.transfer moves the memory and detaches the source.
      return cloneWith(value, new Map(transfer.map((t) => [t, t.transfer()])), views);
    }
    return cloneWith(value, new Map(), null);
  }

  // `views` (when transferring) maps each typed array or DataView to its [byteOffset, length].
  function cloneWith(value, memo, views) {
    const fail = (v) => {
      const what = v !== null && typeof v === 'object' ? `#<${(v.constructor && v.constructor.name) || 'Object'}>` : String(v);
      throw new DOMException(`${what} could not be cloned.`, 'DataCloneError');
    };
    const clone = (v) => {
      if (typeof v === 'function' || typeof v === 'symbol') fail(v);
      if (v === null || typeof v !== 'object') return v;
      if (memo.has(v)) return memo.get(v);
      const keep = (o) => (memo.set(v, o), o);
      // A Blob's bytes are never written: the clone shares them.
      if (v instanceof File) {
        const st = slot(v);
        return keep(makeFile(blobBytes(v), st.name, st.type, st.lastModified));
      }
      if (v instanceof Blob) return keep(makeBlob(blobBytes(v), slot(v).type));
      if (P.has(v) || LISTENERS.has(v) || v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet ||
          (typeof WeakRef === 'function' && v instanceof WeakRef)) fail(v);
      if (Array.isArray(v)) {
        const out = keep(new Array(v.length));
        for (const k of Object.keys(v)) out[k] = clone(v[k]);
        return out;
      }
      if (v instanceof Date) return keep(new Date(v.getTime()));
      if (v instanceof RegExp) return keep(new RegExp(v.source, v.flags));
      if (v instanceof ArrayBuffer) {
        if (v.detached) fail(v);
        return keep(v.slice(0));
      }
      if (ArrayBuffer.isView(v)) {
        const isDataView = v instanceof DataView;
        let where = views && views.get(v);
        if (!where) {
          where = [v.byteOffset, isDataView ? v.byteLength : v.length];
          if (views) views.set(v, where);
        }
        const buffer = clone(v.buffer);
        return keep(isDataView
          ? new DataView(buffer, where[0], where[1])
          : new globalThis[v[Symbol.toStringTag]](buffer, where[0], where[1]));
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
