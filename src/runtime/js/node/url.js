// node:url: the WHATWG URL and URLSearchParams (the globals). File URLs name files, which a
// flux function cannot read, so fileURLToPath and pathToFileURL say so instead of answering.
(function () {
  'use strict';
  const noFiles = (name) => () => {
    throw new Error(`url.${name}: functions cannot read the project's files; import data instead (import data from './data.json')`);
  };
  return {
    URL: globalThis.URL,
    URLSearchParams: globalThis.URLSearchParams,
    fileURLToPath: noFiles('fileURLToPath'),
    pathToFileURL: noFiles('pathToFileURL'),
  };
})
