// The glue between user code and the Rust host: `ctx`, console, timers, fetch, crypto.
// Evaluated once per JS context, after the js/web/ files, with the host's functions as `host`, grouped
// by capability (`host.db`, `host.queue`, `host.email`, `host.fetch`, `host.console`,
// `host.timers`, `host.crypto`). A host function returns its result or throws a host failure
// (`host.isFailure`); the failure is thrown again here as an Error, so that it carries a JS
// stack, with the user's call site attached as `__fluxSite`.
//
// Many executions share this context, interleaved at their awaits. Each has a token (a
// number): the functions of its `ctx` pass it to every host call, so what they do is recorded
// on its record exactly. Globals (`console`, timers, `fetch`) are attributed by the host to
// the execution whose code it entered last (see ARCHITECTURE.md, "Runtime").
(function (host, web) {
  'use strict';
  // The built-ins and web classes this file uses, captured before user code runs: a function
  // that replaces `globalThis.JSON` or `Response` must not change how flux reads its result.
  const {
    Object, Array, JSON, Promise, Error, TypeError, Map, Set, Date, String, Number, Math, Reflect,
    Uint8Array, ArrayBuffer, DataView, Response, Request, DOMException, btoa,
  } = globalThis;

  // Timers by id: { fn, delay, token }; fetches by id: { resolve, reject, at, url, signal,
  // onAbort }; store-thread ops by id: { resolve, reject, at, token }.
  const timers = new Map();
  const fetches = new Map();
  const pending = new Map();
  // Executions whose module is still being imported, and the modules imported once.
  const importing = new Set();
  const imported = new Set();
  let nextTimerId = 1;

  // `file.ts:line` of the first stack frame in the project's own code: internal scripts
  // (`flux:*`) and packages (`node_modules/`) are passed over, as Rust's runtime/stack.rs does.
  const FRAME = /([^\s()]+\.(?:ts|mts|js|mjs)):(\d+)(?::\d+)?\)?$/;
  const userFrame = (stack) => {
    for (const raw of String(stack || '').split('\n')) {
      // flux's own frames come first at every call: skipped without the regex (it runs once
      // per host call, so this is most of what a call site costs).
      if (raw.includes('(flux:') || raw.includes('at flux:') || raw.includes('node_modules/')) continue;
      const m = FRAME.exec(raw.trim());
      if (m && !m[1].startsWith('flux:')) return `${m[1]}:${m[2]}`;
    }
    return null;
  };
  const site = () => userFrame(new Error().stack);

  const hostError = (err, at) => {
    const e = new Error(err.message);
    if (err.name && err.name !== 'Error') e.name = err.name;
    Object.defineProperty(e, '__fluxSite', { value: at, enumerable: false });
    return e;
  };
  // Calls `fn(...args)`; what the user's own code threw while its arguments were converted
  // (e.g. in a `toJSON`) passes through as it was.
  const call = (at, fn, ...args) => {
    try {
      return fn(...args);
    } catch (e) {
      throw host.isFailure(e) ? hostError(e, at) : e;
    }
  };
  // `fn(token, ...args, at)` for an async API: the host answers `{ value }` at once or
  // `{ op }`, settled later by `settle`; a failure rejects the promise.
  const asyncCallAt = (at, fn, token, ...args) => {
    try {
      const answer = call(at, fn, token, ...args, at);
      if (answer.op === undefined) return Promise.resolve(answer.value);
      return new Promise((resolve, reject) => pending.set(answer.op, { resolve, reject, at, token }));
    } catch (e) {
      return Promise.reject(e);
    }
  };
  const asyncCall = (fn, token, ...args) => asyncCallAt(site(), fn, token, ...args);

  const inspect = (value, depth = 0, seen = []) => {
    if (value === null) return 'null';
    switch (typeof value) {
      case 'string':
        return depth === 0 ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
      case 'number':
      case 'boolean':
      case 'undefined':
        return String(value);
      case 'bigint':
        return `${value}n`;
      case 'symbol':
        return value.toString();
      case 'function':
        return `[Function: ${value.name || '(anonymous)'}]`;
    }
    if (seen.includes(value)) return '[Circular]';
    if (value instanceof Error) {
      const head = `${value.name}: ${value.message}`;
      return value.stack ? `${head}\n${value.stack.replace(/\n$/, '')}` : head;
    }
    if (value instanceof Date) return value.toISOString();
    if (depth > 3) return Array.isArray(value) ? '[Array]' : '[Object]';
    const inner = [...seen, value];
    const show = (v) => inspect(v, depth + 1, inner);
    if (Array.isArray(value)) return value.length ? `[ ${value.map(show).join(', ')} ]` : '[]';
    if (value instanceof Map) return `Map(${value.size}) { ${[...value].map(([k, v]) => `${show(k)} => ${show(v)}`).join(', ')} }`;
    if (value instanceof Set) return `Set(${value.size}) { ${[...value].map(show).join(', ')} }`;
    const keys = Object.keys(value);
    if (!keys.length) return '{}';
    const key = (k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : `'${k}'`);
    return `{ ${keys.map((k) => `${key(k)}: ${show(value[k])}`).join(', ')} }`;
  };
  const format = (args) => args.map((a) => inspect(a)).join(' ');
  const consoleMethod = (level) => (...args) => host.console.log(level, format(args));
  globalThis.console = {
    log: consoleMethod('log'),
    info: consoleMethod('info'),
    warn: consoleMethod('warn'),
    error: consoleMethod('error'),
    debug: consoleMethod('debug'),
    trace: (...args) => host.console.log('trace', `${format(args)}\n${new Error().stack || ''}`),
  };

  const schedule = (fn, ms, args, repeat) => {
    if (typeof fn !== 'function') throw new TypeError('the callback must be a function');
    const id = nextTimerId++;
    // HTML's timeout is a WebIDL `long` (ToInt32: 2 ** 32 is 0), and a negative one is 0.
    const delay = Math.max(0, Number(ms) | 0);
    const at = site();
    const token = host.timers.set(id, delay, at);
    timers.set(id, { fn: () => fn(...args), delay: repeat ? delay : null, token, at });
    return id;
  };
  const clear = (id) => {
    const timer = timers.get(id);
    if (!timer) return;
    timers.delete(id);
    host.timers.clear(timer.token, id);
  };
  globalThis.setTimeout = (fn, ms, ...args) => schedule(fn, ms, args, false);
  globalThis.setInterval = (fn, ms, ...args) => schedule(fn, ms, args, true);
  globalThis.clearTimeout = clear;
  globalThis.clearInterval = clear;
  // QuickJS drops what a microtask throws: here it is an uncaught error of the execution, as
  // Node reports it.
  const nativeQueueMicrotask = globalThis.queueMicrotask;
  globalThis.queueMicrotask = function queueMicrotask(callback) {
    if (typeof callback !== 'function') {
      throw new TypeError(`Failed to execute 'queueMicrotask': The callback provided as parameter 1 is not a function.`);
    }
    nativeQueueMicrotask(() => {
      try {
        callback();
      } catch (e) {
        host.uncaught(e, 'microtask');
      }
    });
  };

  const bytesToBase64 = (bytes) => {
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  };
  const encodeBody = (body) => {
    if (body === null || body === undefined) return null;
    if (typeof body === 'string') return { text: body };
    return { base64: bytesToBase64(body instanceof Uint8Array ? body : new Uint8Array(body)) };
  };

  globalThis.fetch = (input, init) => {
    const at = site();
    try {
      // The common `fetch(url)`: a plain GET, started without building a Request.
      const href = typeof input === 'string' && init === undefined ? web.hrefOf(input) : null;
      if (href !== null) {
        const id = call(at, host.fetch.start, 'GET', href, [], null, at);
        return new Promise((resolve, reject) => {
          fetches.set(id, { resolve, reject, at, url: href, signal: null, onAbort: null, token: host.current() });
        });
      }
      const req = new Request(input, init);
      const signal = req.signal;
      // As in browsers: an aborted signal rejects with its reason (an AbortError or TimeoutError
      // DOMException unless the caller gave another) and the request is cancelled on the host.
      if (signal.aborted) return Promise.reject(signal.reason);
      // The body is a string, a Uint8Array or null.
      const body = req.__fluxBody === undefined ? null : req.__fluxBody;
      const id = call(at, host.fetch.start, req.method, req.url, [...req.headers], body, at);
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          if (!fetches.delete(id)) return;
          const reason = signal.reason;
          host.fetch.abort(id, reason instanceof Error ? reason.name : 'AbortError');
          reject(reason);
        };
        fetches.set(id, { resolve, reject, at, url: req.url, signal, onAbort, token: host.current() });
        signal.addEventListener('abort', onAbort, { once: true });
      });
    } catch (e) {
      return Promise.reject(e);
    }
  };

  // The integer typed arrays Web Crypto fills, and the most it fills at once.
  const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];
  const MAX_RANDOM_BYTES = 65536;
  globalThis.crypto = {
    subtle: host.crypto.subtle,
    randomUUID: () => host.crypto.randomUUID(),
    getRandomValues: (array) => {
      if (!INTEGER_ARRAYS.some((T) => array instanceof T)) {
        if (ArrayBuffer.isView(array)) {
          throw new DOMException('crypto.getRandomValues: the array must be an integer typed array (e.g. Uint8Array), not a float array or DataView', 'TypeMismatchError');
        }
        throw new TypeError('crypto.getRandomValues takes an integer typed array, e.g. new Uint8Array(16)');
      }
      if (array.byteLength > MAX_RANDOM_BYTES) {
        throw new DOMException(`crypto.getRandomValues: the array's byte length (${array.byteLength}) exceeds the ${MAX_RANDOM_BYTES} bytes one call can fill; call it once per 64 KiB`, 'QuotaExceededError');
      }
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(host.crypto.randomBytes(array.byteLength));
      return array;
    },
  };

  const describe = (error) => {
    if (error instanceof Error) {
      // A module that failed to parse names its own position: `file.ts:3:1: …`.
      const parsed = error.name === 'SyntaxError' && /^(\S+\.(?:ts|mts|js|mjs)):(\d+):\d+: /.exec(error.message);
      return {
        name: error.name,
        message: String(error.message),
        stack: error.stack || null,
        location: error.__fluxSite || (parsed ? `${parsed[1]}:${parsed[2]}` : userFrame(error.stack)),
      };
    }
    let shown;
    try {
      shown = typeof error === 'string' ? `'${error}'` : JSON.stringify(error) ?? String(error);
    } catch {
      shown = String(error);
    }
    // QuickJS keeps where such a value was thrown (see runtime/stack.rs).
    const stack = host.throwSite(error) || null;
    return { name: 'Error', message: `a non-Error value was thrown: ${shown}`, stack, location: userFrame(stack) };
  };

  const encodeResponse = (value) => {
    if (value instanceof Response) {
      const at = value.__fluxMadeAt ? userFrame(value.__fluxMadeAt) : null;
      return { status: value.status, headers: [...value.headers], body: encodeBody(value.__fluxBody), at };
    }
    if (value === undefined) return { status: 204, headers: [], body: null };
    const text = JSON.stringify(value);
    return { status: 200, headers: [['content-type', 'application/json']], body: { text } };
  };

  // The `ctx` of execution `token`: every call says whose it is.
  const makeCtx = (token, meta) => {
    const queue = {
      enqueue: (name, data, opts) => {
        // JSON turns NaN and Infinity into null (no delay at all): send them as text, refused.
        const delay = opts && opts.delay;
        if (typeof delay === 'number' && !Number.isFinite(delay)) opts = { ...opts, delay: String(delay) };
        return asyncCall(host.queue.enqueue, token, name, data === undefined ? null : data, opts || {});
      },
    };
    const dbApi = () => ({
      insert: (table, row) => asyncCall(host.db.insert, token, table, row),
      query: (sql, params) => asyncCall(host.db.query, token, sql, params === undefined ? [] : params),
    });
    const db = dbApi();
    db.transaction = async (fn) => {
      const at = site();
      if (typeof fn !== 'function') throw new TypeError('ctx.db.transaction takes an async function (tx) => { … }');
      await asyncCallAt(at, host.db.begin, token);
      let result;
      try {
        result = await fn(Object.assign(dbApi(), { queue }));
      } catch (e) {
        await asyncCallAt(at, host.db.rollback, token, describe(e).message);
        throw e;
      }
      await asyncCallAt(at, host.db.commit, token);
      return result;
    };
    return Object.freeze({
      db: Object.freeze(db),
      queue: Object.freeze(queue),
      email: Object.freeze({ send: (message) => asyncCall(host.email.send, token, message) }),
      requestId: meta.id,
      env: Object.freeze({ ...meta.env }),
    });
  };

  // ---------------------------------------------------------------- isolation between executions
  // Executions share this context, so nothing one of them changes may reach the next: the
  // built-ins are frozen (a function cannot patch `JSON.stringify` or `Array.prototype`), and
  // after every execution `globalThis` is put back as it was here (what it added is deleted,
  // what it replaced restored).

  // Assigning to a property a frozen prototype provides would throw ("the override mistake"):
  // these common ones become accessors whose setter defines the property on the object
  // assigned to, so `this.name = 'MyError'` and `Foo.prototype.toString = …` keep working.
  const allowOverride = (object, key) => {
    const desc = Reflect.getOwnPropertyDescriptor(object, key);
    if (!desc || !('value' in desc) || !desc.configurable) return;
    const { value } = desc;
    Object.defineProperty(object, key, {
      get() { return value; },
      set(replacement) {
        if (this === object) throw new TypeError(`Cannot assign to read only property '${String(key)}' of a built-in object: built-ins are shared by every execution and frozen`);
        Object.defineProperty(this, key, { value: replacement, writable: true, enumerable: true, configurable: true });
      },
      enumerable: desc.enumerable,
      configurable: false,
    });
  };
  const ERRORS = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, DOMException];
  if (typeof AggregateError === 'function') ERRORS.push(AggregateError);
  for (const key of ['constructor', 'toString', 'valueOf', 'toLocaleString', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable']) {
    allowOverride(Object.prototype, key);
  }
  // lodash (and others) give their namespace function its own `bind`, `apply`, `call`.
  for (const key of ['constructor', 'toString', 'apply', 'bind', 'call']) allowOverride(Function.prototype, key);
  for (const E of ERRORS) for (const key of ['constructor', 'name', 'message', 'toString']) allowOverride(E.prototype, key);
  allowOverride(Array.prototype, 'toString');
  // Subclasses of Uint8Array (node:buffer's Buffer, and the copies of it packages bundle)
  // define these on their own prototype.
  for (const key of ['toString', 'toLocaleString', 'fill', 'includes', 'indexOf', 'lastIndexOf', 'slice']) {
    allowOverride(Object.getPrototypeOf(Uint8Array.prototype), key);
  }

  // Freezes everything reachable from `roots` (properties, accessors, prototypes). It runs
  // once per context over every built-in, so it makes as few calls per object as it can.
  const freezeAll = (roots) => {
    const seen = new Set([globalThis]);
    const pending = [];
    const visit = (value) => {
      if (((typeof value === 'object' && value !== null) || typeof value === 'function') && !seen.has(value)) pending.push(value);
    };
    roots.forEach(visit);
    while (pending.length) {
      const object = pending.pop();
      if (seen.has(object)) continue;
      seen.add(object);
      Object.freeze(object);
      visit(Object.getPrototypeOf(object));
      const descs = Object.getOwnPropertyDescriptors(object);
      for (const key of Reflect.ownKeys(descs)) {
        const desc = descs[key];
        if (desc.get === undefined && desc.set === undefined) visit(desc.value);
        else {
          visit(desc.get);
          visit(desc.set);
        }
      }
    }
  };
  // Intrinsics no global names, reached through instances.
  const hiddenIntrinsics = [
    function* () {}, async function () {}, async function* () {},
    [][Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](), ''[Symbol.iterator](),
    /x/[Symbol.matchAll](''), (function* () {})(), (async function* () {})(),
  ].map((instance) => Object.getPrototypeOf(instance));
  const globalProto = Object.getPrototypeOf(globalThis);
  const globalKeys = Reflect.ownKeys(globalThis);
  freezeAll([globalProto, ...hiddenIntrinsics, ...globalKeys.map((key) => {
    const desc = Reflect.getOwnPropertyDescriptor(globalThis, key);
    return 'value' in desc ? desc.value : desc.get;
  })]);
  // The setup's globals are read-only, like the built-ins they hold, so that the reset after
  // each execution only has to count the keys of `globalThis` (it runs once per execution).
  for (const key of globalKeys) {
    const desc = Reflect.getOwnPropertyDescriptor(globalThis, key);
    Object.defineProperty(globalThis, key, 'value' in desc ? { writable: false, configurable: false } : { configurable: false });
  }

  // Whether an execution changed `globalThis` (one call: the setup's globals cannot change).
  const globalsChanged = () =>
    Reflect.ownKeys(globalThis).length !== globalKeys.length || !Object.isExtensible(globalThis) || Object.getPrototypeOf(globalThis) !== globalProto;

  // Puts `globalThis` back as it was after setup; throws when it cannot (the Rust side then
  // builds a new context).
  const restoreGlobals = () => {
    if (!Object.isExtensible(globalThis)) throw new Error('globalThis was made non-extensible');
    if (Object.getPrototypeOf(globalThis) !== globalProto) Object.setPrototypeOf(globalThis, globalProto);
    const keys = Reflect.ownKeys(globalThis);
    // The setup's globals cannot change: any extra key was added by the execution.
    if (keys.length !== globalKeys.length) {
      const original = new Set(globalKeys);
      for (const key of keys) {
        if (!original.has(key) && !Reflect.deleteProperty(globalThis, key)) throw new Error(`global ${String(key)} cannot be deleted`);
      }
    }
  };

  // What the Rust side calls.
  return {
    // Runs execution `token`; its JSON result goes to `host.done`.
    run(token, specifier, input, meta) {
      importing.add(token);
      // With the result goes whether `globalThis` is still as set up, which spares the host a
      // separate look when it is.
      const failed = (error) => host.done(token, JSON.stringify({ error: describe(error) }), globalsChanged());
      import(specifier)
        .then((mod) => {
          importing.delete(token);
          // The first time here: the host times its handler from now, not the module's load.
          if (!imported.has(specifier)) {
            imported.add(specifier);
            host.imported();
          }
          const handler = mod.default;
          if (typeof handler !== 'function') {
            const param = meta.kind === 'job' ? 'job' : 'req';
            throw new TypeError(`${specifier} must export a default function: export default async function handler(${param}, ctx) { … }`);
          }
          // An upload's files arrive encoded (server/mod.rs): made Files here.
          if (meta.kind === 'http' && input.body !== null && typeof input.body === 'object' &&
              /^multipart\/form-data/i.test(String(input.headers['content-type'] || '').trim())) {
            web.filesFromHost(input.body);
          }
          return handler(input, makeCtx(token, meta));
        }, (error) => {
          importing.delete(token);
          throw error;
        })
        // One step from the result to the host: a result JSON cannot encode is a failure too.
        .then((value) => host.done(token, JSON.stringify({ ok: meta.kind === 'http' ? encodeResponse(value) : value ?? null }), globalsChanged()))
        .catch(failed);
    },
    // A store-thread op answered: its promise resolves with `value` or rejects with `failure`.
    settle(op, value, failure) {
      const waiting = pending.get(op);
      if (!waiting) return;
      pending.delete(op);
      if (failure === null || failure === undefined) waiting.resolve(value);
      else waiting.reject(hostError(failure, waiting.at));
    },
    fireTimer(id) {
      const timer = timers.get(id);
      if (!timer) return;
      if (timer.delay === null) timers.delete(id);
      else host.timers.set(id, timer.delay, timer.at);
      try {
        timer.fn();
      } catch (e) {
        host.uncaught(e);
      }
    },
    // `reply` is `{ status, statusText, headers, body }` (the body a Uint8Array), or null
    // with `error` saying why the request failed.
    settleFetch(id, reply, error) {
      const pending = fetches.get(id);
      if (!pending) return;
      fetches.delete(id);
      if (pending.signal) pending.signal.removeEventListener('abort', pending.onAbort);
      if (reply === null || reply === undefined) {
        const e = new TypeError(`fetch failed: ${error}`);
        Object.defineProperty(e, '__fluxSite', { value: pending.at, enumerable: false });
        pending.reject(e);
        return;
      }
      const { status, statusText, headers, body } = reply;
      const nullBody = status === 204 || status === 205 || status === 304;
      try {
        pending.resolve(web.responseFromHost(status, statusText, headers, nullBody ? null : body, pending.url));
      } catch (e) {
        pending.reject(e);
      }
    },
    // Execution `token` ended: nothing it waited for is delivered any more. True when its
    // module was still loading: a top-level await of the module may have waited on what was
    // just forgotten, and then the module never finishes loading in this context.
    // Its store calls still get their answers (another execution may await one), and its
    // fetches, cancelled, reject.
    end(token) {
      const loading = importing.delete(token);
      for (const [id, timer] of timers) if (timer.token === token) timers.delete(id);
      for (const [id, fetch] of fetches) {
        if (fetch.token === token) {
          fetches.delete(id);
          if (fetch.signal) fetch.signal.removeEventListener('abort', fetch.onAbort);
          const e = new TypeError('fetch cancelled: the execution that started it has ended');
          Object.defineProperty(e, '__fluxSite', { value: fetch.at, enumerable: false });
          fetch.reject(e);
        }
      }
      return loading;
    },
    globalsChanged,
    // No execution is left on this context: undo what they did to `globalThis`.
    restoreGlobals,
  };
});
