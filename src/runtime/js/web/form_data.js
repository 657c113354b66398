// XMLHttpRequest's FormData, and the form bodies of the Fetch standard: a FormData encoded as
// multipart/form-data, and `.formData()`'s parsing of multipart and urlencoded bodies.
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { Object, TypeError, String, Math, Uint8Array, P, slot, tag, needArgs, iterable, usv, natives, utf8Encode, decodeUTF8, Blob, File, makeFile, blobBytes, URLSearchParams } = web;

  // An entry's value: a string, or a File (a Blob becomes one named "blob").
  function entryValue(value, filename, n, what) {
    if (!(value instanceof Blob)) {
      if (n > 2) throw new TypeError(`Failed to execute '${what}' on 'FormData': parameter 2 is not of type 'Blob'.`);
      return usv(value);
    }
    if (value instanceof File && filename === undefined) return value;
    const st = slot(value);
    return makeFile(blobBytes(value), filename === undefined ? 'blob' : usv(filename), st.type,
      value instanceof File ? st.lastModified : undefined);
  }

  class FormData {
    constructor(form = undefined) {
      if (form !== undefined) throw new TypeError("Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.");
      P.set(this, []);
    }
    append(name, value, filename = undefined) {
      needArgs(arguments, 2, "Failed to execute 'append' on 'FormData'");
      slot(this).push([usv(name), entryValue(value, filename, arguments.length, 'append')]);
    }
    set(name, value, filename = undefined) {
      needArgs(arguments, 2, "Failed to execute 'set' on 'FormData'");
      const list = slot(this);
      const entry = [usv(name), entryValue(value, filename, arguments.length, 'set')];
      const first = list.findIndex((e) => e[0] === entry[0]);
      if (first < 0) { list.push(entry); return; }
      list[first] = entry;
      for (let i = list.length - 1; i > first; i--) if (list[i][0] === entry[0]) list.splice(i, 1);
    }
    get(name) {
      needArgs(arguments, 1, "Failed to execute 'get' on 'FormData'");
      name = usv(name);
      const entry = slot(this).find((e) => e[0] === name);
      return entry ? entry[1] : null;
    }
    getAll(name) {
      needArgs(arguments, 1, "Failed to execute 'getAll' on 'FormData'");
      name = usv(name);
      return slot(this).filter((e) => e[0] === name).map((e) => e[1]);
    }
    has(name) {
      needArgs(arguments, 1, "Failed to execute 'has' on 'FormData'");
      name = usv(name);
      return slot(this).some((e) => e[0] === name);
    }
    delete(name) {
      needArgs(arguments, 1, "Failed to execute 'delete' on 'FormData'");
      name = usv(name);
      const list = slot(this);
      for (let i = list.length - 1; i >= 0; i--) if (list[i][0] === name) list.splice(i, 1);
    }
  }
  tag(FormData);
  // entries/keys/values/forEach/@@iterator, live over the entry list.
  iterable(FormData, (form) => slot(form));

  // Names and filenames in a part's header: quotes and line breaks escaped as browsers do.
  const escapeName = (s) => s.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
  const crlf = (s) => s.replace(/\r\n|\r|\n/g, '\r\n');

  // [bytes, contentType] of a FormData as a multipart/form-data body.
  function encodeMultipart(form) {
    let boundary = '----formdata-flux-';
    for (let i = 0; i < 24; i++) boundary += Math.floor(Math.random() * 16).toString(16);
    const chunks = [];
    for (const [name, value] of slot(form)) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(crlf(name))}"`;
      if (typeof value === 'string') {
        chunks.push(utf8Encode(`${head}\r\n\r\n${crlf(value)}\r\n`));
      } else {
        head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`;
        chunks.push(utf8Encode(head), blobBytes(value), utf8Encode('\r\n'));
      }
    }
    chunks.push(utf8Encode(`--${boundary}--\r\n`));
    let size = 0;
    for (const c of chunks) size += c.length;
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return [out, `multipart/form-data; boundary=${boundary}`];
  }

  // `.formData()` of a body: its bytes (a Uint8Array) as the Content-Type says.
  function parseFormBody(bytes, contentType) {
    const essence = String(contentType || '').split(';')[0].trim().toLowerCase();
    const form = new FormData();
    const list = slot(form);
    if (essence === 'multipart/form-data') {
      for (const [name, value, filename, type] of natives.parseMultipart(String(contentType), bytes)) {
        list.push([name, filename === undefined ? value : makeFile(value, filename, type)]);
      }
      return form;
    }
    if (essence === 'application/x-www-form-urlencoded') {
      // The urlencoded parser decodes "without BOM": a leading U+FEFF stays part of the first name.
      for (const [name, value] of new URLSearchParams(decodeUTF8(bytes, true))) list.push([name, value]);
      return form;
    }
    throw new TypeError(`Could not parse content as FormData: its Content-Type is ${contentType ? `"${contentType}"` : 'missing'}, not multipart/form-data or application/x-www-form-urlencoded`);
  }

  Object.assign(web, { FormData, encodeMultipart, parseFormBody });
})
