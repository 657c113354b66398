// node:buffer: the npm package buffer (feross), which predates the 'base64url' encoding Node
// has had since v15; it is added here as base64 with the URL alphabet and no padding, for
// Buffer.from, toString, byteLength and isEncoding. Node's module also exports atob and btoa
// (and Blob and File, where flux has them as globals).
(function (natives) {
  'use strict';
  const exports = natives.vendored;
  const { Buffer } = exports;
  const isUrl = (encoding) => typeof encoding === 'string' && encoding.toLowerCase() === 'base64url';
  const toBase64 = (text) => String(text).replace(/-/g, '+').replace(/_/g, '/');
  const toBase64Url = (text) => text.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

  const from = Buffer.from;
  Buffer.from = function (value, encodingOrOffset, length) {
    if (typeof value === 'string' && isUrl(encodingOrOffset)) return from.call(this, toBase64(value), 'base64');
    return from.call(this, value, encodingOrOffset, length);
  };
  const toString = Buffer.prototype.toString;
  Buffer.prototype.toString = function (encoding, start, end) {
    if (isUrl(encoding)) return toBase64Url(toString.call(this, 'base64', start, end));
    return toString.apply(this, arguments);
  };
  const byteLength = Buffer.byteLength;
  Buffer.byteLength = (value, encoding) => (isUrl(encoding) ? byteLength(toBase64(value), 'base64') : byteLength(value, encoding));
  const isEncoding = Buffer.isEncoding;
  Buffer.isEncoding = (encoding) => isUrl(encoding) || isEncoding(encoding);

  for (const name of ['atob', 'btoa', 'Blob', 'File']) {
    if (globalThis[name] !== undefined) exports[name] = globalThis[name];
  }
  return exports;
})
