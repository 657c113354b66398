// node:timers and node:timers/promises: the global timers, and promises of them. There is no
// setImmediate (flux has no event-loop phase after I/O to run it in: use setTimeout(fn, 0)).
(function (natives) {
  'use strict';
  const { setTimeout, setInterval, clearTimeout, clearInterval } = globalThis;
  const timers = { setTimeout, setInterval, clearTimeout, clearInterval };
  if (natives.part !== 'promises') return timers;

  // As Node rejects an aborted wait: an AbortError whose cause is the signal's reason.
  const aborted = (signal) => {
    const error = new Error('The operation was aborted');
    error.name = 'AbortError';
    error.code = 'ABORT_ERR';
    error.cause = signal.reason;
    return error;
  };
  // Resolves to `value` after `delay` ms, unless `options.signal` aborts first.
  const wait = (delay, value, options = {}) => {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(aborted(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(id);
        reject(aborted(signal));
      };
      const id = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      }, delay);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  };
  return {
    setTimeout: wait,
    scheduler: { wait: (delay, options) => wait(delay, undefined, options) },
  };
})
