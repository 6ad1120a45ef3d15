// Node's EventEmitter.
function EventEmitter(options) {
  EventEmitter.init.call(this, options);
}
EventEmitter.prototype._events = undefined;
EventEmitter.prototype._maxListeners = undefined;
EventEmitter.defaultMaxListeners = 10;
EventEmitter.captureRejections = false;
EventEmitter.errorMonitor = Symbol("events.errorMonitor");
EventEmitter.init = function () {
  if (this._events === undefined || this._events === Object.getPrototypeOf(this)._events) {
    this._events = Object.create(null);
    this._eventsCount = 0;
  }
  this._maxListeners = this._maxListeners || undefined;
};
function checkListener(listener) {
  if (typeof listener !== "function") {
    throw new TypeError('The "listener" argument must be of type Function. Received type ' + typeof listener);
  }
}
function events(target) {
  if (!target._events) { target._events = Object.create(null); target._eventsCount = 0; }
  return target._events;
}
EventEmitter.prototype.setMaxListeners = function (n) { this._maxListeners = n; return this; };
EventEmitter.prototype.getMaxListeners = function () {
  return this._maxListeners === undefined ? EventEmitter.defaultMaxListeners : this._maxListeners;
};
EventEmitter.prototype.emit = function (type) {
  var args = Array.prototype.slice.call(arguments, 1);
  var list = events(this)[type];
  if (type === "error" && list === undefined) {
    var er = args[0];
    if (er instanceof Error) throw er;
    var err = new Error("Unhandled error." + (er === undefined ? "" : " (" + er + ")"));
    err.context = er;
    throw err;
  }
  if (list === undefined) return false;
  if (typeof list === "function") {
    list.apply(this, args);
  } else {
    var copy = list.slice();
    for (var i = 0; i < copy.length; i++) copy[i].apply(this, args);
  }
  return true;
};
function addListener(target, type, listener, prepend) {
  checkListener(listener);
  var map = events(target);
  if (map.newListener !== undefined) {
    target.emit("newListener", type, listener.listener ? listener.listener : listener);
    map = events(target);
  }
  var existing = map[type];
  if (existing === undefined) {
    map[type] = listener;
    target._eventsCount++;
  } else if (typeof existing === "function") {
    map[type] = prepend ? [listener, existing] : [existing, listener];
  } else if (prepend) {
    existing.unshift(listener);
  } else {
    existing.push(listener);
  }
  return target;
}
EventEmitter.prototype.addListener = function (type, listener) { return addListener(this, type, listener, false); };
EventEmitter.prototype.on = EventEmitter.prototype.addListener;
EventEmitter.prototype.prependListener = function (type, listener) { return addListener(this, type, listener, true); };
function onceWrapper(target, type, listener) {
  var state = { fired: false, target: target, type: type, listener: listener };
  function wrapped() {
    if (!state.fired) {
      state.target.removeListener(state.type, wrapped);
      state.fired = true;
      return state.listener.apply(state.target, arguments);
    }
  }
  wrapped.listener = listener;
  return wrapped;
}
EventEmitter.prototype.once = function (type, listener) {
  checkListener(listener);
  return this.on(type, onceWrapper(this, type, listener));
};
EventEmitter.prototype.prependOnceListener = function (type, listener) {
  checkListener(listener);
  return this.prependListener(type, onceWrapper(this, type, listener));
};
EventEmitter.prototype.removeListener = function (type, listener) {
  checkListener(listener);
  var map = events(this);
  var list = map[type];
  if (list === undefined) return this;
  if (list === listener || list.listener === listener) {
    if (--this._eventsCount === 0) this._events = Object.create(null);
    else delete map[type];
    if (map.removeListener) this.emit("removeListener", type, list.listener || listener);
  } else if (typeof list !== "function") {
    for (var i = list.length - 1; i >= 0; i--) {
      if (list[i] === listener || list[i].listener === listener) {
        var original = list[i].listener || list[i];
        list.splice(i, 1);
        if (list.length === 1) map[type] = list[0];
        if (map.removeListener !== undefined) this.emit("removeListener", type, original);
        break;
      }
    }
  }
  return this;
};
EventEmitter.prototype.off = EventEmitter.prototype.removeListener;
EventEmitter.prototype.removeAllListeners = function (type) {
  var map = events(this);
  if (arguments.length === 0) {
    this._events = Object.create(null);
    this._eventsCount = 0;
  } else if (map[type] !== undefined) {
    if (--this._eventsCount === 0) this._events = Object.create(null);
    else delete map[type];
  }
  return this;
};
EventEmitter.prototype.listeners = function (type) {
  var list = events(this)[type];
  if (list === undefined) return [];
  if (typeof list === "function") return [list.listener || list];
  return list.map(function (l) { return l.listener || l; });
};
EventEmitter.prototype.rawListeners = function (type) {
  var list = events(this)[type];
  if (list === undefined) return [];
  return typeof list === "function" ? [list] : list.slice();
};
EventEmitter.prototype.listenerCount = function (type) {
  var list = events(this)[type];
  if (list === undefined) return 0;
  return typeof list === "function" ? 1 : list.length;
};
EventEmitter.listenerCount = function (emitter, type) { return emitter.listenerCount(type); };
EventEmitter.prototype.eventNames = function () { return Reflect.ownKeys(events(this)); };
EventEmitter.once = function (emitter, name) {
  return new Promise(function (resolve, reject) {
    function onError(err) { emitter.removeListener(name, onEvent); reject(err); }
    function onEvent() {
      if (name !== "error") emitter.removeListener("error", onError);
      resolve(Array.prototype.slice.call(arguments));
    }
    emitter.once(name, onEvent);
    if (name !== "error") emitter.once("error", onError);
  });
};
EventEmitter.on = function () { throw new Error("events.on is not available in the sandbox; use emitter.on(name, listener)"); };
EventEmitter.setMaxListeners = function () {};
EventEmitter.getEventListeners = function (emitter, name) { return emitter.listeners(name); };
EventEmitter.EventEmitter = EventEmitter;
module.exports = EventEmitter;
