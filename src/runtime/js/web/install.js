// Puts the web globals in place, and returns the helpers host.js uses.
((web) => {
  'use strict';
  const { Object, slot, hidden, DOMException, Event, CustomEvent, EventTarget, AbortController, AbortSignal, TextEncoder, TextDecoder, atob, btoa, structuredClone, Headers, URLSearchParams, URL, Response, Request, parseURL, serializeURL, setupBody, Blob, File, FormData, makeFile, natives } = web;

  const globals = {
    DOMException, Event, CustomEvent, EventTarget, AbortController, AbortSignal, TextEncoder, TextDecoder,
    atob, btoa, structuredClone, Headers, URLSearchParams, URL, Response, Request, Blob, File, FormData,
  };
  for (const name of Object.keys(globals)) hidden(globalThis, name, globals[name]);
  // QuickJS's performance.now() counts from the context's creation, but its timeOrigin (fixed)
  // is read from a monotonic clock: this `performance` has the wall-clock time of that origin,
  // as the standard has it.
  const nativeNow = globalThis.performance.now;
  const timeOrigin = web.Date.now() - nativeNow();
  const performance = {
    now() { return nativeNow(); },
    get timeOrigin() { return timeOrigin; },
    toJSON() { return { timeOrigin }; },
  };
  web.tag({ prototype: performance }, 'Performance');
  hidden(globalThis, 'performance', performance);

  // For the host's glue (host.js), which builds what the host hands back.
  return {
    // `input` serialized when it is an absolute URL, else null.
    hrefOf(input) {
      const r = parseURL(input, null);
      return r && serializeURL(r);
    },
    // An upload's `req.body` (server/mod.rs): each file, sent as `{ name, type, base64 }`,
    // becomes a File, also inside a repeated field's array.
    filesFromHost(body) {
      const file = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v)
        ? makeFile(natives.bytesFromBase64(v.base64), v.name, v.type)
        : v);
      for (const name of Object.keys(body)) {
        const v = body[name];
        body[name] = Array.isArray(v) ? v.map(file) : file(v);
      }
      return body;
    },
    // A fetched response: its header names come lowercase and valid from the HTTP client.
    responseFromHost(status, statusText, pairs, body, url) {
      const headers = new Headers();
      const map = slot(headers);
      for (let i = 0; i < pairs.length; i++) {
        const [k, v] = pairs[i];
        const values = map.get(k);
        if (values) values.push(v);
        else map.set(k, [v]);
      }
      return setupBody(Object.create(Response.prototype), body,
        { status, statusText, headers, type: 'basic', url, redirected: false });
    },
  };
})
