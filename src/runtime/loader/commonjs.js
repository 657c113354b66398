// The CommonJS loader of one context: `require` with Node's module cache, so that a cycle
// gets the partly filled `module.exports` of the module still loading, as in Node. `natives`
// resolves, reads and compiles (src/runtime/loader/commonjs.rs).
(function (natives) {
  "use strict";
  const cache = new Map();

  function dirname(file) {
    const slash = file.lastIndexOf("/");
    return slash < 0 ? "." : file.slice(0, slash);
  }

  function makeRequire(from) {
    function require(specifier) {
      if (typeof specifier !== "string") {
        throw new TypeError(`require() takes a module name, not ${typeof specifier}`);
      }
      const target = natives.resolve(from, specifier);
      return target.startsWith("node:") ? natives.builtin(target) : load(target);
    }
    require.resolve = (specifier) => {
      const target = natives.resolve(from, String(specifier));
      return target.startsWith("node:") ? specifier : natives.filename(target);
    };
    return require;
  }

  function load(name) {
    const cached = cache.get(name);
    if (cached !== undefined) return cached.exports;
    const filename = natives.filename(name);
    const module = {
      id: filename,
      filename,
      path: dirname(filename),
      exports: {},
      loaded: false,
      children: [],
    };
    module.require = makeRequire(name);
    cache.set(name, module);
    try {
      const loaded = natives.load(name);
      if (typeof loaded === "string") {
        module.exports = JSON.parse(loaded);
      } else {
        loaded.call(module.exports, module.exports, module.require, module, filename, module.path);
      }
    } catch (error) {
      // As in Node: a module that threw is loaded afresh by the next require.
      cache.delete(name);
      throw error;
    }
    module.loaded = true;
    return module.exports;
  }

  return { load };
})
