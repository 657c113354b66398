// HTML's forgiving base64: atob and btoa.
// One file of the web globals (see common.js): it takes what it uses from `web` and adds what it defines.
((web) => {
  'use strict';
  const { String, needArgs, DOMException } = web;

  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

  function btoa(data) {
    needArgs(arguments, 1, 'btoa');
    data = String(data);
    if (/[^\0-\xff]/.test(data)) throw new DOMException('Invalid character', 'InvalidCharacterError');
    let out = '';
    for (let i = 0; i < data.length; i += 3) {
      const a = data.charCodeAt(i), b = data.charCodeAt(i + 1), c = data.charCodeAt(i + 2);
      const n = (a << 16) | ((b || 0) << 8) | (c || 0);
      out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < data.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < data.length ? B64[n & 63] : '=');
    }
    return out;
  }

  function atob(data) {
    needArgs(arguments, 1, 'atob');
    data = String(data).replace(/[\t\n\f\r ]/g, '');
    if (data.length % 4 === 0) data = data.replace(/==?$/, '');
    if (data.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(data)) {
      throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
    }
    let out = '', bits = 0, acc = 0;
    for (let i = 0; i < data.length; i++) {
      acc = (acc << 6) | B64.indexOf(data[i]);
      bits += 6;
      if (bits >= 8) { bits -= 8; out += String.fromCharCode((acc >> bits) & 0xff); }
    }
    return out;
  }

  Object.assign(web, { atob, btoa });
})
