// The URL standard: URLSearchParams and URL (parsing is native: ada, through the ada-url crate).
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, Array, TypeError, Symbol, String, Map, P, slot, hidden, tag, needArgs, usv, natives, iterable } = web;

  // The list of a query string (without its "?"), and back: application/x-www-form-urlencoded.
  const parseQuery = (s) => natives.formParse(s);
  const serializeQuery = (list) => natives.formSerialize(list);

  // Push the list back into the owning URL's query, if any.
  function updateURL(params) {
    const st = slot(params);
    if (!st.url) return;
    st.url.parts = natives.urlSet(st.url.parts.href, 'search', serializeQuery(st.list)) || st.url.parts;
  }

  class URLSearchParams {
    constructor(init) {
      const st = { list: [], url: null };
      P.set(this, st);
      if (init == null) return;
      if (typeof init === 'object' || typeof init === 'function') {
        const iterator = init[Symbol.iterator];
        if (iterator !== undefined && iterator !== null) {
          // sequence<sequence<USVString>>: any iterable of iterable pairs (a URLSearchParams too).
          if (typeof iterator !== 'function') throw new TypeError('The query pairs are not iterable');
          for (const pair of { [Symbol.iterator]: () => iterator.call(init) }) {
            if ((typeof pair !== 'object' && typeof pair !== 'function') || pair === null) {
              throw new TypeError('Each query pair must be an iterable [name, value] tuple');
            }
            const p = Array.from(pair);
            if (p.length !== 2) throw new TypeError('Each query pair must be an iterable [name, value] tuple');
            st.list.push([usv(p[0]), usv(p[1])]);
          }
        } else {
          // record<USVString, USVString>: own enumerable string keys; a key that converts to one
          // seen before replaces its value in place.
          const record = new Map();
          for (const key of Object.getOwnPropertyNames(init)) {
            const desc = Object.getOwnPropertyDescriptor(init, key);
            if (desc === undefined || !desc.enumerable) continue;
            record.set(usv(key), usv(init[key]));
          }
          st.list = Array.from(record);
        }
      } else {
        const s = usv(init);
        st.list = parseQuery(s[0] === '?' ? s.slice(1) : s);
      }
    }
    get size() { return slot(this).list.length; }
    append(name, value) {
      needArgs(arguments, 2, "Failed to execute 'append' on 'URLSearchParams'");
      slot(this).list.push([usv(name), usv(value)]);
      updateURL(this);
    }
    delete(name, value) {
      const st = slot(this);
      name = usv(name);
      value = value === undefined ? undefined : usv(value);
      st.list = st.list.filter(([k, v]) => k !== name || (value !== undefined && v !== value));
      updateURL(this);
    }
    get(name) {
      name = usv(name);
      const p = slot(this).list.find((q) => q[0] === name);
      return p ? p[1] : null;
    }
    getAll(name) {
      name = usv(name);
      return slot(this).list.filter((q) => q[0] === name).map((q) => q[1]);
    }
    has(name, value) {
      name = usv(name);
      value = value === undefined ? undefined : usv(value);
      return slot(this).list.some(([k, v]) => k === name && (value === undefined || v === value));
    }
    set(name, value) {
      needArgs(arguments, 2, "Failed to execute 'set' on 'URLSearchParams'");
      const st = slot(this);
      name = usv(name);
      value = usv(value);
      const i = st.list.findIndex((q) => q[0] === name);
      if (i < 0) st.list.push([name, value]);
      else {
        st.list[i][1] = value;
        st.list = st.list.filter((q, j) => j <= i || q[0] !== name);
      }
      updateURL(this);
    }
    sort() {
      slot(this).list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); // stable, by UTF-16 code units
      updateURL(this);
    }
    toString() { return serializeQuery(slot(this).list); }
  }
  iterable(URLSearchParams, (params) => slot(params).list);
  tag(URLSearchParams);


  // The URL parser, getters and setters are native (host/url.rs: ada, the ada-url crate). A URL's
  // state is its `parts`: its href and every getter's value, replaced by each setter.
  const parseURL = (input, base) => natives.urlParse(usv(input), base ? base.href : null);
  const serializeURL = (parts) => parts.href;

  const invalidURL = (input) => {
    const e = new TypeError(`Invalid URL: ${input}`);
    hidden(e, 'code', 'ERR_INVALID_URL');
    hidden(e, 'input', input);
    return e;
  };

  const queryOf = (parts) => parts.search.slice(1);

  function setPart(url, attribute, value) {
    const st = slot(url);
    st.parts = natives.urlSet(st.parts.href, attribute, usv(value)) || st.parts;
    if (attribute === 'search') slot(st.params).list = parseQuery(queryOf(st.parts));
  }

  class URL {
    constructor(url, base) {
      needArgs(arguments, 1, "Failed to construct 'URL'");
      url = usv(url);
      const parts = natives.urlParse(url, base === undefined ? null : usv(base));
      if (!parts) throw invalidURL(url);
      const params = new URLSearchParams();
      const st = { parts, params };
      P.set(this, st);
      const ps = slot(params);
      ps.list = parseQuery(queryOf(parts));
      ps.url = st;
    }
    static canParse(url, base) {
      needArgs(arguments, 1, "Failed to execute 'canParse' on 'URL'");
      return natives.urlParse(usv(url), base === undefined ? null : usv(base)) !== undefined;
    }
    static parse(url, base) {
      needArgs(arguments, 1, "Failed to execute 'parse' on 'URL'");
      try { return new URL(url, base); } catch { return null; }
    }
    get href() { return slot(this).parts.href; }
    set href(value) {
      const st = slot(this);
      const parts = natives.urlSet(st.parts.href, 'href', usv(value));
      if (!parts) throw invalidURL(String(value));
      st.parts = parts;
      slot(st.params).list = parseQuery(queryOf(parts));
    }
    get origin() { return slot(this).parts.origin; }
    get protocol() { return slot(this).parts.protocol; }
    set protocol(value) { setPart(this, 'protocol', value); }
    get username() { return slot(this).parts.username; }
    set username(value) { setPart(this, 'username', value); }
    get password() { return slot(this).parts.password; }
    set password(value) { setPart(this, 'password', value); }
    get host() { return slot(this).parts.host; }
    set host(value) { setPart(this, 'host', value); }
    get hostname() { return slot(this).parts.hostname; }
    set hostname(value) { setPart(this, 'hostname', value); }
    get port() { return slot(this).parts.port; }
    set port(value) { setPart(this, 'port', value); }
    get pathname() { return slot(this).parts.pathname; }
    set pathname(value) { setPart(this, 'pathname', value); }
    get search() { return slot(this).parts.search; }
    set search(value) { setPart(this, 'search', value); }
    get hash() { return slot(this).parts.hash; }
    set hash(value) { setPart(this, 'hash', value); }
    get searchParams() { return slot(this).params; }
    toString() { return slot(this).parts.href; }
    toJSON() { return slot(this).parts.href; }
  }
  tag(URL);

  Object.assign(web, { URLSearchParams, parseURL, serializeURL, invalidURL, URL });
})
