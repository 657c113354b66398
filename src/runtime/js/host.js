// The glue between user code and the Rust host: `ctx`, console, timers, fetch, crypto.
// Evaluated once per JS context, after web.js, with the host's functions as `host`.
// Every host call returns JSON `{ ok }` or `{ error: { name, message } }`; errors are thrown
// here so that they carry a JS stack, and the user's call site is attached as `__fluxSite`.
(function (host) {
  'use strict';

  const timers = new Map();
  const fetches = new Map();
  let nextTimerId = 1;

  // `file.ts:line` of the first stack frame in user code (internal scripts are `flux:*`).
  const userFrame = (stack) => {
    for (const raw of String(stack || '').split('\n')) {
      const m = /([^\s()]+\.(?:ts|mts|js|mjs)):(\d+)(?::\d+)?\)?$/.exec(raw.trim());
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
  const call = (op, args, at) => {
    const reply = JSON.parse(host.call(op, JSON.stringify(args), at || ''));
    if (reply.error !== undefined) throw hostError(reply.error, at);
    return reply.ok;
  };
  const asyncCall = (op, args) => {
    const at = site();
    try {
      return Promise.resolve(call(op, args, at));
    } catch (e) {
      return Promise.reject(e);
    }
  };

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
  const consoleMethod = (level) => (...args) => host.log(level, format(args));
  globalThis.console = {
    log: consoleMethod('log'),
    info: consoleMethod('info'),
    warn: consoleMethod('warn'),
    error: consoleMethod('error'),
    debug: consoleMethod('debug'),
    trace: (...args) => host.log('trace', `${format(args)}\n${new Error().stack || ''}`),
  };

  const schedule = (fn, ms, args, repeat) => {
    if (typeof fn !== 'function') throw new TypeError('the callback must be a function');
    const id = nextTimerId++;
    const delay = Math.max(0, Number(ms) || 0);
    timers.set(id, { fn: () => fn(...args), delay: repeat ? delay : null });
    host.timer(id, delay);
    return id;
  };
  const clear = (id) => {
    if (timers.delete(id)) host.clearTimer(id);
  };
  globalThis.setTimeout = (fn, ms, ...args) => schedule(fn, ms, args, false);
  globalThis.setInterval = (fn, ms, ...args) => schedule(fn, ms, args, true);
  globalThis.clearTimeout = clear;
  globalThis.clearInterval = clear;

  const bytesToBase64 = (bytes) => {
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  };
  const base64ToBytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const encodeBody = (body) => {
    if (body === null || body === undefined) return null;
    if (typeof body === 'string') return { text: body };
    return { base64: bytesToBase64(body instanceof Uint8Array ? body : new Uint8Array(body)) };
  };

  globalThis.fetch = (input, init) => {
    const at = site();
    try {
      const req = new Request(input, init);
      const id = call('fetch', { method: req.method, url: req.url, headers: [...req.headers], body: encodeBody(req.__fluxBody) }, at);
      return new Promise((resolve, reject) => fetches.set(id, { resolve, reject, at, url: req.url }));
    } catch (e) {
      return Promise.reject(e);
    }
  };

  globalThis.crypto = {
    randomUUID: () => host.uuid(),
    getRandomValues: (array) => {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      const hex = host.randomHex(bytes.length);
      for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
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
    return { name: 'Error', message: `a non-Error value was thrown: ${shown}`, stack: null, location: null };
  };

  const encodeResponse = (value) => {
    if (value instanceof Response) {
      return { status: value.status, headers: [...value.headers], body: encodeBody(value.__fluxBody) };
    }
    if (value === undefined) return { status: 204, headers: [], body: null };
    const text = JSON.stringify(value);
    return { status: 200, headers: [['content-type', 'application/json']], body: { text } };
  };

  const makeCtx = (meta) => {
    const queue = {
      enqueue: (name, data, opts) => {
        // JSON turns NaN and Infinity into null (no delay at all): send them as text, refused.
        const delay = opts && opts.delay;
        if (typeof delay === 'number' && !Number.isFinite(delay)) opts = { ...opts, delay: String(delay) };
        return asyncCall('enqueue', { name, data: data === undefined ? null : data, opts: opts || {} });
      },
    };
    const dbApi = () => ({
      insert: (table, row) => asyncCall('insert', { table, row }),
      query: (sql, params) => asyncCall('query', { sql, params: params === undefined ? [] : params }),
    });
    const db = dbApi();
    db.transaction = async (fn) => {
      const at = site();
      if (typeof fn !== 'function') throw new TypeError('ctx.db.transaction takes an async function (tx) => { … }');
      call('begin', {}, at);
      let result;
      try {
        result = await fn(Object.assign(dbApi(), { queue }));
      } catch (e) {
        call('rollback', { reason: describe(e).message }, at);
        throw e;
      }
      call('commit', {}, at);
      return result;
    };
    return Object.freeze({
      db: Object.freeze(db),
      queue: Object.freeze(queue),
      email: Object.freeze({ send: (message) => asyncCall('email', message) }),
      requestId: meta.id,
      env: Object.freeze({ ...meta.env }),
    });
  };

  // What the Rust side calls.
  return {
    run(specifier, input, meta) {
      return import(specifier)
        .then((mod) => {
          const handler = mod.default;
          if (typeof handler !== 'function') {
            const param = meta.kind === 'job' ? 'job' : 'req';
            throw new TypeError(`${specifier} must export a default function: export default async function handler(${param}, ctx) { … }`);
          }
          return handler(input, makeCtx(meta));
        })
        .then((value) => JSON.stringify({ ok: meta.kind === 'http' ? encodeResponse(value) : value ?? null }))
        .catch((error) => JSON.stringify({ error: describe(error) }));
    },
    fireTimer(id) {
      const timer = timers.get(id);
      if (!timer) return;
      if (timer.delay === null) timers.delete(id);
      else host.timer(id, timer.delay);
      try {
        timer.fn();
      } catch (e) {
        console.error('Uncaught error in a timer:', e);
      }
    },
    settleFetch(id, json) {
      const pending = fetches.get(id);
      if (!pending) return;
      fetches.delete(id);
      const reply = JSON.parse(json);
      if (reply.error !== undefined) {
        const e = new TypeError(`fetch failed: ${reply.error.message}`);
        Object.defineProperty(e, '__fluxSite', { value: pending.at, enumerable: false });
        pending.reject(e);
        return;
      }
      const { status, statusText, headers, base64 } = reply.ok;
      const nullBody = status === 204 || status === 205 || status === 304;
      try {
        const response = new Response(nullBody ? null : base64ToBytes(base64), { status, statusText, headers });
        Object.defineProperty(response, 'url', { value: pending.url });
        pending.resolve(response);
      } catch (e) {
        pending.reject(e);
      }
    },
    reset() {
      timers.clear();
      fetches.clear();
    },
  };
});
