// node:process, as far as it is true of a flux function: `env` holds the variables the
// config's `env` declares (what ctx.env has, read at each use, so a config change shows),
// `nextTick` queues a microtask, `platform` and `arch` are the machine's. There is no cwd,
// argv, exit or stdout: a function is not a process.
(function (natives) {
  'use strict';
  const readOnly = () => {
    throw new TypeError("process.env is read-only in flux: it holds the variables the config's env declares, shared by every execution");
  };
  const env = new Proxy({}, {
    get: (_, key) => (typeof key === 'string' ? natives.env()[key] : undefined),
    has: (_, key) => typeof key === 'string' && Object.prototype.hasOwnProperty.call(natives.env(), key),
    ownKeys: () => Object.keys(natives.env()),
    getOwnPropertyDescriptor: (_, key) => {
      const value = typeof key === 'string' ? natives.env()[key] : undefined;
      return value === undefined ? undefined : { value, writable: true, enumerable: true, configurable: true };
    },
    set: readOnly,
    defineProperty: readOnly,
    deleteProperty: readOnly,
    setPrototypeOf: readOnly,
  });
  const nextTick = (callback, ...args) => {
    if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
    Promise.resolve().then(() => callback(...args));
  };
  // `import process from 'node:process'` and `import { env } from 'node:process'` both work.
  return {
    env,
    nextTick,
    platform: natives.platform,
    arch: natives.arch,
    versions: { flux: natives.fluxVersion },
  };
})
