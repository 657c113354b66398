// node:process, as far as it is true of a flux function: `env` holds the variables the
// config's `env` declares (what ctx.env has, read at each use, so a config change shows),
// `nextTick` queues a microtask, `platform` and `arch` are the machine's. There is no cwd,
// argv, exit or stdout: a function is not a process.
(function (natives) {
  'use strict';
  const readOnly = () => {
    throw new TypeError("process.env is read-only in flux: it holds the variables the config's env declares, shared by every execution");
  };
  // natives.get(name) is a declared variable's value (undefined for any other name),
  // natives.keys() the declared names that have one, sorted: each read asks the host afresh.
  const own = (key) => (typeof key === 'string' ? natives.get(key) : undefined);
  const env = new Proxy({}, {
    // Other names read as a plain object's do (toString, …), so that env converts to a string.
    get: (target, key) => (typeof key === 'string' ? own(key) ?? Reflect.get(target, key) : undefined),
    has: (_, key) => own(key) !== undefined,
    // Listed in an object's key order (integer-like names first), as Object.keys gives them.
    ownKeys: () => Object.keys(Object.fromEntries(natives.keys().map((key) => [key, true]))),
    getOwnPropertyDescriptor: (_, key) => {
      const value = own(key);
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
