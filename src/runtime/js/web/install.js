// Puts the web globals in place, and returns the helpers host.js uses.
((web) => {
  'use strict';
  const { Object, slot, hidden, DOMException, Event, CustomEvent, EventTarget, AbortController, AbortSignal, TextEncoder, TextDecoder, atob, btoa, structuredClone, Headers, URLSearchParams, URL, Response, Request, parseURL, serializeURL, setupBody } = web;

  const globals = {
    DOMException, Event, CustomEvent, EventTarget, AbortController, AbortSignal, TextEncoder, TextDecoder,
    atob, btoa, structuredClone, Headers, URLSearchParams, URL, Response, Request,
  };
  for (const name of Object.keys(globals)) hidden(globalThis, name, globals[name]);

  // For the host's glue (host.js), which builds what the host hands back.
  return {
    // `input` serialized when it is an absolute URL, else null.
    hrefOf(input) {
      const r = parseURL(input, null);
      return r && serializeURL(r);
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
