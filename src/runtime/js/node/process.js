// node:process, as far as it is true of a flux function: `env` holds the variables the
// config's `env` declares (what ctx.env has), `nextTick` queues a microtask, `platform` and
// `arch` are the machine's. There is no cwd, argv, exit or stdout: a function is not a process.
(function (natives) {
  'use strict';
  const nextTick = (callback, ...args) => {
    if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
    Promise.resolve().then(() => callback(...args));
  };
  const process = {
    env: natives.env,
    nextTick,
    platform: natives.platform,
    arch: natives.arch,
    versions: { flux: natives.fluxVersion },
  };
  // `import process from 'node:process'` and `import { env } from 'node:process'` both work.
  return process;
})
