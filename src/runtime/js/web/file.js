// The File API: Blob and File.
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
// A Blob holds its bytes in one Uint8Array that nothing writes to again, so a slice or a copy
// of it (a clone, a Response body) shares them.
((web) => {
  'use strict';
  const { Object, Promise, TypeError, Symbol, String, Number, Math, Date, Uint8Array, ArrayBuffer, P, slot, tag, usv, utf8Encode, decodeUTF8 } = web;

  // A type of printable ASCII is kept lowercase; any other is no type (the File API's rule).
  const blobType = (t) => {
    t = String(t);
    return /^[\x20-\x7e]*$/.test(t) ? t.toLowerCase() : '';
  };

  // The bytes of the parts, concatenated; `native` endings turn a string's line breaks into \n.
  function partsBytes(parts, endings) {
    if (parts === undefined) return new Uint8Array(0);
    if (parts === null || typeof parts !== 'object' || typeof parts[Symbol.iterator] !== 'function') {
      throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
    }
    const chunks = [];
    let size = 0;
    for (const part of parts) {
      let bytes;
      if (part instanceof Blob) bytes = slot(part).bytes;
      else if (part instanceof ArrayBuffer) bytes = new Uint8Array(part.slice(0));
      else if (ArrayBuffer.isView(part)) bytes = new Uint8Array(part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength));
      else {
        let s = usv(part);
        if (endings === 'native') s = s.replace(/\r\n|\r/g, '\n');
        bytes = utf8Encode(s);
      }
      chunks.push(bytes);
      size += bytes.length;
    }
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  }

  const blobOptions = (options, what) => {
    if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
      throw new TypeError(`Failed to construct '${what}': The provided value is not of type '${what}PropertyBag'.`);
    }
    options = options ?? {};
    const endings = options.endings === undefined ? 'transparent' : String(options.endings);
    if (endings !== 'transparent' && endings !== 'native') {
      throw new TypeError(`Failed to construct '${what}': The provided value '${endings}' is not a valid enum value of type EndingType.`);
    }
    return { type: options.type === undefined ? '' : blobType(options.type), endings };
  };

  // A Blob (or File) over `bytes` as they are.
  const makeBlob = (bytes, type, proto = Blob.prototype, extra = {}) => {
    const b = Object.create(proto);
    P.set(b, { bytes, type, ...extra });
    return b;
  };

  const relative = (n, size) => (n < 0 ? Math.max(size + n, 0) : Math.min(n, size));
  const toInt = (v) => {
    const n = Math.trunc(Number(v));
    return Number.isFinite(n) ? n : n > 0 ? Infinity : n < 0 ? -Infinity : 0;
  };

  class Blob {
    constructor(blobParts = undefined, options = undefined) {
      const { type, endings } = blobOptions(options, 'Blob');
      P.set(this, { bytes: partsBytes(blobParts, endings), type });
    }
    get size() { return slot(this).bytes.length; }
    get type() { return slot(this).type; }
    slice(start = undefined, end = undefined, contentType = undefined) {
      const { bytes } = slot(this);
      const from = start === undefined ? 0 : relative(toInt(start), bytes.length);
      const to = end === undefined ? bytes.length : relative(toInt(end), bytes.length);
      return makeBlob(bytes.subarray(from, Math.max(from, to)), contentType === undefined ? '' : blobType(contentType));
    }
    text() {
      try { return Promise.resolve(decodeUTF8(slot(this).bytes, false)); } catch (e) { return Promise.reject(e); }
    }
    arrayBuffer() {
      try { return Promise.resolve(slot(this).bytes.slice().buffer); } catch (e) { return Promise.reject(e); }
    }
    bytes() {
      try { return Promise.resolve(slot(this).bytes.slice()); } catch (e) { return Promise.reject(e); }
    }
    // The body stream of a Response over the blob (fetch.js defines both).
    stream() { return new web.Response(makeBlob(slot(this).bytes, '')).body; }
  }
  tag(Blob);

  class File extends Blob {
    constructor(fileBits, fileName, options = undefined) {
      if (arguments.length < 2) throw new TypeError(`Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`);
      const { type, endings } = blobOptions(options, 'File');
      super(fileBits, { endings });
      const st = slot(this);
      st.type = type;
      st.name = usv(fileName);
      const lastModified = options == null || options.lastModified === undefined ? Date.now() : Number(options.lastModified);
      st.lastModified = Number.isFinite(lastModified) ? Math.trunc(lastModified) : 0;
    }
    get name() { return slot(this).name; }
    get lastModified() { return slot(this).lastModified; }
    get webkitRelativePath() { return ''; }
  }
  tag(File);

  // A File over `bytes` (an upload, a part of a multipart body, a clone).
  const makeFile = (bytes, name, type, lastModified = Date.now()) =>
    makeBlob(bytes, blobType(type), File.prototype, { name: String(name), lastModified });
  const blobBytes = (b) => slot(b).bytes;

  Object.assign(web, { Blob, File, makeBlob, makeFile, blobBytes });
})
