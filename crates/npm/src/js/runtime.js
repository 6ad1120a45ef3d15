// The bundle's module runtime. The host put before this, in the same module scope:
// `__islet_ids` (module ids), `__islet_deps` (per module: specifier → module index),
// `__islet_entries` (the program's specifiers → module index) and `__islet_defs` (per
// module: function (module, exports, require, __x)). Modules run on first require, once
// per execution, as in Node; a module that throws is forgotten, so the next require
// runs it again.
(function (ids, deps, entries, defs) {
  var records = new Array(defs.length);
  var views = new Array(defs.length);

  function notFound(spec, from) {
    var error = new Error(
      "Cannot find module '" + spec + "'" + (from ? " from " + from : "") +
      ": islet bundles only the modules named by string literals in import/require; import it from the program so it is bundled"
    );
    error.code = "MODULE_NOT_FOUND";
    return error;
  }

  // An ES module's view of module `i`: itself when it was an ES module, else an object
  // whose `default` is `module.exports` and whose other names read from it.
  function view(i) {
    var exports = load(i);
    if (exports && exports.__esModule) return exports;
    if (views[i] && views[i].source === exports) return views[i].ns;
    var ns = exports !== null && (typeof exports === "object" || typeof exports === "function")
      ? Object.create(exports)
      : {};
    Object.defineProperty(ns, "default", { value: exports, enumerable: true });
    views[i] = { source: exports, ns: ns };
    return ns;
  }

  function interop(exports) {
    if (exports && exports.__esModule) return exports;
    var ns = exports !== null && (typeof exports === "object" || typeof exports === "function")
      ? Object.create(exports)
      : {};
    Object.defineProperty(ns, "default", { value: exports, enumerable: true });
    return ns;
  }

  function defineExports(exports, getters) {
    for (var name in getters) {
      Object.defineProperty(exports, name, { enumerable: true, configurable: true, get: getters[name] });
    }
  }

  function star(exports, from) {
    Object.keys(from).forEach(function (name) {
      if (name === "default" || name === "__esModule" || Object.prototype.hasOwnProperty.call(exports, name)) return;
      // The exporting module's own getter when it has one: reads through re-export
      // chains (zod's index → external → schemas) then cost one call, not one per level.
      var own = Object.getOwnPropertyDescriptor(from, name);
      var get = own && own.get ? own.get : function () { return from[name]; };
      Object.defineProperty(exports, name, { enumerable: true, configurable: true, get: get });
    });
  }

  function load(i) {
    var record = records[i];
    if (record) return record.exports;
    var id = ids[i];
    var slash = id.lastIndexOf("/");
    record = records[i] = {
      id: id,
      filename: "/node_modules/" + id,
      path: "/node_modules/" + (slash > 0 ? id.slice(0, slash) : id),
      exports: {},
      loaded: false,
      children: [],
      paths: [],
    };
    var require = requireFrom(i);
    record.require = require;
    var helpers = {
      i: interop,
      e: defineExports,
      s: star,
      dyn: function (f) {
        return new Promise(function (resolve) { resolve(interop(f())); });
      },
      meta: { url: "file:///node_modules/" + id, filename: record.filename, dirname: record.path },
    };
    var define = defs[i];
    if (typeof define === "string") {
      // A module no entry evaluates eagerly, kept as text: compiled now, once.
      define = defs[i] = (0, eval)("(" + define + ")");
    }
    try {
      define.call(record.exports, record, record.exports, require, helpers);
    } catch (error) {
      records[i] = undefined;
      throw error;
    }
    record.loaded = true;
    return record.exports;
  }

  function requireFrom(i) {
    var table = deps[i];
    function require(spec) {
      var target = table[spec];
      if (target === undefined) throw notFound(spec, ids[i]);
      return load(target);
    }
    require.resolve = function (spec) {
      var target = table[spec];
      if (target === undefined) throw notFound(spec, ids[i]);
      return "/node_modules/" + ids[target];
    };
    require.cache = {};
    return require;
  }

  function entry(spec) {
    var target = entries[spec];
    if (target === undefined) throw notFound(spec, null);
    return target;
  }

  var api = Object.freeze({
    import: function (spec) { return view(entry(spec)); },
    require: function (spec) { return load(entry(spec)); },
    dynamic: function (spec) {
      return new Promise(function (resolve) { resolve(view(entry(spec))); });
    },
  });
  Object.defineProperty(globalThis, "__islet_npm", { value: api });
  Object.defineProperty(globalThis, "require", {
    value: api.require,
    writable: true,
    configurable: true,
  });
})(__islet_ids, __islet_deps, __islet_entries, __islet_defs);
