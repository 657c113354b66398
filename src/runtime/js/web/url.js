// The URL standard: URLSearchParams and URL (parsing is native: the url crate).
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, Array, TypeError, Symbol, String, Math, Uint8Array, P, slot, hidden, tag, needArgs, usv, natives, utf8Encode, decodeUTF8 } = web;

  const isHex = (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

  function percentDecode(s) {
    const b = utf8Encode(s);
    const out = new Uint8Array(b.length);
    let n = 0;
    for (let i = 0; i < b.length; i++) {
      if (b[i] === 37 && isHex(b[i + 1]) && isHex(b[i + 2])) {
        out[n++] = parseInt(String.fromCharCode(b[i + 1], b[i + 2]), 16);
        i += 2;
      } else out[n++] = b[i];
    }
    return out.subarray(0, n);
  }

  const formDecode = (s) => {
    s = s.replace(/\+/g, ' ');
    return s.includes('%') ? decodeUTF8(percentDecode(s), true) : s;
  };
  const formEncode = (s) =>
    encodeURIComponent(usv(s)).replace(/[!'()~]|%20/g, (c) => (c === '%20' ? '+' : '%' + c.charCodeAt(0).toString(16).toUpperCase()));

  function parseQuery(s) {
    const list = [];
    for (const part of s.split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      list.push(i < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, i)), formDecode(part.slice(i + 1))]);
    }
    return list;
  }

  // Push the list back into the owning URL's query, if any.
  function updateURL(params) {
    const st = slot(params);
    if (!st.url) return;
    const s = params.toString();
    st.url.rec.query = s === '' ? null : s;
  }

  class URLSearchParams {
    constructor(init) {
      const st = { list: [], url: null };
      P.set(this, st);
      if (init == null) return;
      if (typeof init === 'object' || typeof init === 'function') {
        if (init instanceof URLSearchParams) {
          st.list = slot(init).list.map((p) => p.slice());
        } else if (init[Symbol.iterator] != null) {
          for (const pair of init) {
            const p = typeof pair === 'string' ? [] : Array.from(pair);
            if (p.length !== 2) throw new TypeError('Each query pair must be an iterable [name, value] tuple');
            st.list.push([usv(p[0]), usv(p[1])]);
          }
        } else {
          for (const k of Object.keys(init)) st.list.push([usv(k), usv(init[k])]);
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
    forEach(callback, thisArg) {
      if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
      const st = slot(this);
      for (let i = 0; i < st.list.length; i++) callback.call(thisArg, st.list[i][1], st.list[i][0], this);
    }
    *entries() {
      const st = slot(this);
      for (let i = 0; i < st.list.length; i++) yield [st.list[i][0], st.list[i][1]];
    }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return slot(this).list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&'); }
  }
  tag(URLSearchParams);


  const SPECIAL = { __proto__: null, ftp: 21, file: null, http: 80, https: 443, ws: 80, wss: 443 };
  const isSpecial = (scheme) => scheme in SPECIAL;

  // Percent-encode sets as 128-entry tables; code points >= 0x80 are always encoded.
  const encodeSet = (chars, base) => {
    const set = new Uint8Array(128);
    if (base) set.set(base);
    for (let c = 0; c < 0x20; c++) set[c] = 1;
    set[0x7f] = 1;
    for (const ch of chars) set[ch.charCodeAt(0)] = 1;
    return set;
  };
  const C0_SET = encodeSet('');
  const FRAGMENT_SET = encodeSet(' "<>`', C0_SET);
  const QUERY_SET = encodeSet(' "#<>', C0_SET);
  const SPECIAL_QUERY_SET = encodeSet("'", QUERY_SET);
  const PATH_SET = encodeSet('?`{}', QUERY_SET);
  const USERINFO_SET = encodeSet('/:;=@[\\]^|', PATH_SET);

  function encode(s, set) {
    s = usv(s);
    let i = 0;
    for (let c; i < s.length && (c = s.charCodeAt(i)) < 0x80 && !set[c]; i++);
    if (i === s.length) return s;
    let out = s.slice(0, i);
    for (const ch of s.slice(i)) {
      const c = ch.codePointAt(0);
      if (c >= 0x80) out += encodeURIComponent(ch);
      else if (set[c]) out += '%' + (c < 16 ? '0' : '') + c.toString(16).toUpperCase();
      else out += ch;
    }
    return out;
  }

  const stripTabs = (v) => String(v).replace(/[\t\n\r]/g, '');

  function punycode(label) {
    const cps = Array.from(label, (c) => c.codePointAt(0));
    const digit = (d) => String.fromCharCode(d < 26 ? 97 + d : 22 + d);
    const adapt = (delta, points, first) => {
      delta = first ? Math.floor(delta / 700) : delta >> 1;
      delta += Math.floor(delta / points);
      let k = 0;
      for (; delta > 455; k += 36) delta = Math.floor(delta / 35);
      return k + Math.floor((36 * delta) / (delta + 38));
    };
    let out = cps.filter((c) => c < 0x80).map((c) => String.fromCharCode(c)).join('');
    const basic = out.length;
    let h = basic, n = 128, delta = 0, bias = 72;
    if (basic) out += '-';
    while (h < cps.length) {
      let m = Infinity;
      for (const c of cps) if (c >= n && c < m) m = c;
      delta += (m - n) * (h + 1);
      n = m;
      for (const c of cps) {
        if (c < n) delta++;
        if (c !== n) continue;
        let q = delta;
        for (let k = 36; ; k += 36) {
          const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
          if (q < t) break;
          out += digit(t + ((q - t) % (36 - t)));
          q = Math.floor((q - t) / (36 - t));
        }
        out += digit(q);
        bias = adapt(delta, h + 1, h === basic);
        delta = 0;
        h++;
      }
      delta++;
      n++;
    }
    return out;
  }

  // Approximates UTS #46 with NFKC + lowercase, then Punycode for non-ASCII labels.
  function domainToASCII(domain) {
    if (!/[^\0-\x7f]/.test(domain)) return domain.toLowerCase();
    return domain.normalize('NFKC').toLowerCase().replace(/[\u3002\uff0e\uff61]/g, '.').split('.')
      .map((l) => (/[^\0-\x7f]/.test(l) ? 'xn--' + punycode(l) : l)).join('.');
  }

  function endsInNumber(host) {
    const parts = host.split('.');
    if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
    const last = parts[parts.length - 1];
    return /^\d+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
  }

  function parseIPv4(host) {
    const parts = host.split('.');
    if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
    if (parts.length > 4) return null;
    const nums = [];
    for (let p of parts) {
      if (p === '') return null;
      let re = /^\d+$/, radix = 10;
      if (/^0x/i.test(p)) { p = p.slice(2); re = /^[0-9a-f]+$/i; radix = 16; }
      else if (p.length > 1 && p[0] === '0') { p = p.slice(1); re = /^[0-7]+$/; radix = 8; }
      if (p === '') { nums.push(0); continue; }
      if (!re.test(p)) return null;
      nums.push(parseInt(p, radix));
    }
    const last = nums.pop();
    if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
    let ip = last;
    nums.forEach((n, i) => { ip += n * 256 ** (3 - i); });
    return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
  }

  function parseIPv6(input) {
    const addr = [0, 0, 0, 0, 0, 0, 0, 0];
    let piece = 0, compress = null, p = 0;
    const c = () => input[p];
    const isDigit = (ch) => ch !== undefined && ch >= '0' && ch <= '9';
    if (c() === ':') {
      if (input[p + 1] !== ':') return null;
      p += 2;
      compress = ++piece;
    }
    while (p < input.length) {
      if (piece === 8) return null;
      if (c() === ':') {
        if (compress !== null) return null;
        p++;
        compress = ++piece;
        continue;
      }
      let value = 0, length = 0;
      while (length < 4 && p < input.length && /[0-9a-f]/i.test(c())) {
        value = value * 16 + parseInt(c(), 16);
        p++;
        length++;
      }
      if (c() === '.') {
        if (length === 0 || piece > 6) return null;
        p -= length;
        let seen = 0;
        while (p < input.length) {
          let v4 = null;
          if (seen > 0) {
            if (c() === '.' && seen < 4) p++;
            else return null;
          }
          if (!isDigit(c())) return null;
          while (isDigit(c())) {
            const n = +c();
            if (v4 === null) v4 = n;
            else if (v4 === 0) return null;
            else v4 = v4 * 10 + n;
            if (v4 > 255) return null;
            p++;
          }
          addr[piece] = addr[piece] * 256 + v4;
          seen++;
          if (seen === 2 || seen === 4) piece++;
        }
        if (seen !== 4) return null;
        break;
      } else if (c() === ':') {
        p++;
        if (p >= input.length) return null;
      } else if (p < input.length) return null;
      addr[piece++] = value;
    }
    if (compress !== null) {
      let swaps = piece - compress;
      piece = 7;
      while (piece !== 0 && swaps > 0) {
        const j = compress + swaps - 1;
        [addr[piece], addr[j]] = [addr[j], addr[piece]];
        piece--;
        swaps--;
      }
    } else if (piece !== 8) return null;
    return addr;
  }

  function serializeIPv6(a) {
    let best = -1, bestLen = 1;
    for (let i = 0; i < 8;) {
      if (a[i] !== 0) { i++; continue; }
      let j = i;
      while (j < 8 && a[j] === 0) j++;
      if (j - i > bestLen) { best = i; bestLen = j - i; }
      i = j;
    }
    let out = '';
    for (let i = 0; i < 8; i++) {
      if (i === best) { out += i === 0 ? '::' : ':'; i += bestLen - 1; continue; }
      out += a[i].toString(16) + (i < 7 ? ':' : '');
    }
    return out;
  }

  // Returns the serialized host, or null on failure.
  function parseHost(input, opaque) {
    if (input[0] === '[') {
      if (input[input.length - 1] !== ']') return null;
      const a = parseIPv6(input.slice(1, -1));
      return a && '[' + serializeIPv6(a) + ']';
    }
    if (opaque) return /[\0\t\n\r #/:<>?@[\\\]^|]/.test(input) ? null : encode(input, C0_SET);
    const domain = decodeUTF8(percentDecode(input), true);
    if (domain.includes('\uFFFD')) return null;
    const ascii = domainToASCII(domain);
    if (ascii === '' || /[\0-\x20#%/:<>?@[\\\]^|\x7f]/.test(ascii)) return null;
    return endsInNumber(ascii) ? parseIPv4(ascii) : ascii;
  }

  const DRIVE = /^[A-Za-z][:|]$/;
  const NORMALIZED_DRIVE = /^[A-Za-z]:$/;

  function shorten(path, r) {
    if (r.scheme === 'file' && path.length === 1 && NORMALIZED_DRIVE.test(path[0])) return;
    path.pop();
  }

  // Appends the segments of `str` (a path without its leading slash) to `path`.
  function parsePath(str, path, r) {
    const parts = str.split(isSpecial(r.scheme) ? /[/\\]/ : '/');
    for (let i = 0; i < parts.length; i++) {
      const seg = parts[i], lower = seg.toLowerCase(), last = i === parts.length - 1;
      if (lower === '..' || lower === '.%2e' || lower === '%2e.' || lower === '%2e%2e') {
        shorten(path, r);
        if (last) path.push('');
      } else if (lower === '.' || lower === '%2e') {
        if (last) path.push('');
      } else if (r.scheme === 'file' && path.length === 0 && DRIVE.test(seg)) {
        if (r.host) r.host = '';
        path.push(seg[0] + ':');
      } else path.push(encode(seg, PATH_SET));
    }
    return path;
  }

  function splitHostPort(auth) {
    let inBrackets = false;
    for (let i = 0; i < auth.length; i++) {
      const ch = auth[i];
      if (ch === '[') inBrackets = true;
      else if (ch === ']') inBrackets = false;
      else if (ch === ':' && !inBrackets) return [auth.slice(0, i), auth.slice(i + 1)];
    }
    return [auth, null];
  }

  // The WHATWG URL parser, native (the host's `url` crate): `base` is a URL record.
  function parseURL(input, base) {
    return natives.parseURL(usv(input), base ? serializeURL(base) : null);
  }

  const pathname = (r) => (r.opaque ? r.path : r.path.map((s) => '/' + s).join(''));

  function serializeURL(r) {
    let s = r.scheme + ':';
    if (r.host !== null) {
      s += '//';
      if (r.username || r.password) s += r.username + (r.password ? ':' + r.password : '') + '@';
      s += r.host + (r.port !== null ? ':' + r.port : '');
    } else if (!r.opaque && r.path.length > 1 && r.path[0] === '') {
      s += '/.'; // keeps "/.//x" from reading as an authority
    }
    s += pathname(r);
    if (r.query !== null) s += '?' + r.query;
    if (r.fragment !== null) s += '#' + r.fragment;
    return s;
  }

  function originOf(r) {
    if (r.scheme === 'blob') {
      const inner = parseURL(pathname(r), null);
      return inner && (inner.scheme === 'http' || inner.scheme === 'https') ? originOf(inner) : 'null';
    }
    if (isSpecial(r.scheme) && r.scheme !== 'file') return r.scheme + '://' + r.host + (r.port !== null ? ':' + r.port : '');
    return 'null';
  }

  const invalidURL = (input) => {
    const e = new TypeError(`Invalid URL: ${input}`);
    hidden(e, 'code', 'ERR_INVALID_URL');
    hidden(e, 'input', input);
    return e;
  };

  // Shared by the host/hostname setters (the basic parser with a host state override).
  function setHost(r, value, hostnameOnly) {
    if (r.opaque) return;
    const special = isSpecial(r.scheme);
    value = stripTabs(value);
    const end = value.search(special ? /[/\\?#]/ : /[/?#]/);
    if (end >= 0) value = value.slice(0, end);
    if (r.scheme === 'file') {
      if (value === '') { r.host = ''; return; }
      const host = parseHost(value, false);
      if (host !== null) r.host = host === 'localhost' ? '' : host;
      return;
    }
    const [hostStr, portStr] = splitHostPort(value);
    if (portStr !== null && hostnameOnly) return;
    if (hostStr === '') {
      if (special || portStr !== null || r.username || r.password || r.port !== null) return;
      r.host = '';
      return;
    }
    const host = parseHost(hostStr, !special);
    if (host === null) return;
    r.host = host; // set even when the port below turns out invalid, as the spec's parser does
    const digits = portStr === null ? '' : /^\d*/.exec(portStr)[0];
    if (digits !== '' && +digits <= 65535) r.port = SPECIAL[r.scheme] === +digits ? null : String(+digits);
  }

  const cannotHaveCredentials = (r) => r.host === null || r.host === '' || r.scheme === 'file';

  class URL {
    constructor(url, base) {
      needArgs(arguments, 1, "Failed to construct 'URL'");
      url = String(url);
      let b = null;
      if (base !== undefined) {
        b = parseURL(base, null);
        if (!b) throw invalidURL(url);
      }
      const rec = parseURL(url, b);
      if (!rec) throw invalidURL(url);
      const params = new URLSearchParams();
      const st = { rec, params };
      P.set(this, st);
      const ps = slot(params);
      ps.list = parseQuery(rec.query || '');
      ps.url = st;
    }
    static canParse(url, base) {
      try { new URL(url, base); return true; } catch { return false; }
    }
    static parse(url, base) {
      try { return new URL(url, base); } catch { return null; }
    }
    get href() { return serializeURL(slot(this).rec); }
    set href(value) {
      const st = slot(this);
      const rec = parseURL(value, null);
      if (!rec) throw invalidURL(String(value));
      st.rec = rec;
      slot(st.params).list = parseQuery(rec.query || '');
    }
    get origin() { return originOf(slot(this).rec); }
    get protocol() { return slot(this).rec.scheme + ':'; }
    set protocol(value) {
      const r = slot(this).rec;
      const m = /^([A-Za-z][A-Za-z0-9+\-.]*)(?::|$)/.exec(stripTabs(value));
      if (!m) return;
      const scheme = m[1].toLowerCase();
      if (isSpecial(scheme) !== isSpecial(r.scheme)) return;
      if (scheme === 'file' && (r.username || r.password || r.port !== null)) return;
      if (r.scheme === 'file' && r.host === '') return;
      r.scheme = scheme;
      if (r.port !== null && SPECIAL[scheme] === +r.port) r.port = null;
    }
    get username() { return slot(this).rec.username; }
    set username(value) {
      const r = slot(this).rec;
      if (!cannotHaveCredentials(r)) r.username = encode(value, USERINFO_SET);
    }
    get password() { return slot(this).rec.password; }
    set password(value) {
      const r = slot(this).rec;
      if (!cannotHaveCredentials(r)) r.password = encode(value, USERINFO_SET);
    }
    get host() {
      const r = slot(this).rec;
      return r.host === null ? '' : r.port === null ? r.host : r.host + ':' + r.port;
    }
    set host(value) { setHost(slot(this).rec, value, false); }
    get hostname() { return slot(this).rec.host ?? ''; }
    set hostname(value) { setHost(slot(this).rec, value, true); }
    get port() { return slot(this).rec.port ?? ''; }
    set port(value) {
      const r = slot(this).rec;
      if (cannotHaveCredentials(r)) return;
      value = stripTabs(value);
      if (value === '') { r.port = null; return; }
      const digits = /^\d*/.exec(value)[0];
      if (digits === '' || +digits > 65535) return;
      r.port = SPECIAL[r.scheme] === +digits ? null : String(+digits);
    }
    get pathname() { return pathname(slot(this).rec); }
    set pathname(value) {
      const r = slot(this).rec;
      if (r.opaque) return;
      value = stripTabs(value);
      const special = isSpecial(r.scheme);
      if (special ? /^[/\\]/.test(value) : value[0] === '/') value = value.slice(1);
      else if (!special && value === '') { r.path = r.host === null ? [''] : []; return; }
      r.path = parsePath(value, [], r);
    }
    get search() {
      const q = slot(this).rec.query;
      return q ? '?' + q : '';
    }
    set search(value) {
      const st = slot(this), r = st.rec;
      value = stripTabs(value);
      if (value === '') {
        r.query = null;
        slot(st.params).list = [];
        return;
      }
      if (value[0] === '?') value = value.slice(1);
      r.query = encode(value, isSpecial(r.scheme) ? SPECIAL_QUERY_SET : QUERY_SET);
      slot(st.params).list = parseQuery(r.query);
    }
    get hash() {
      const f = slot(this).rec.fragment;
      return f ? '#' + f : '';
    }
    set hash(value) {
      const r = slot(this).rec;
      value = stripTabs(value);
      if (value === '') { r.fragment = null; return; }
      r.fragment = encode(value[0] === '#' ? value.slice(1) : value, FRAGMENT_SET);
    }
    get searchParams() { return slot(this).params; }
    toString() { return this.href; }
    toJSON() { return this.href; }
  }
  tag(URL);

  Object.assign(web, { URLSearchParams, parseURL, serializeURL, invalidURL, URL });
})
