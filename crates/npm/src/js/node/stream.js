// A small `stream`: the legacy Stream (an EventEmitter with pipe) that packages subclass,
// and Readable/Writable/Duplex/Transform/PassThrough that work for in-memory use: push
// and write emit `data`, end emits `end`/`finish`, pipe forwards. No back-pressure.
var EventEmitter = require("node:events");
var util = require("node:util");

function Stream(options) { EventEmitter.call(this, options); }
util.inherits(Stream, EventEmitter);
Stream.prototype.pipe = function (dest) {
  var source = this;
  source.on("data", function (chunk) { dest.write(chunk); });
  source.on("end", function () { if (typeof dest.end === "function") dest.end(); });
  dest.emit && dest.emit("pipe", source);
  return dest;
};

function Readable(options) {
  Stream.call(this, options);
  options = options || {};
  this.readable = true;
  this.readableEnded = false;
  this._objectMode = !!(options.objectMode || options.readableObjectMode);
  this._encoding = options.encoding || null;
  if (typeof options.read === "function") this._read = options.read;
}
util.inherits(Readable, Stream);
Readable.prototype._read = function () {};
Readable.prototype.push = function (chunk, encoding) {
  var self = this;
  if (chunk === null) {
    queueMicrotask(function () {
      if (!self.readableEnded) { self.readableEnded = true; self.emit("end"); self.emit("close"); }
    });
    return false;
  }
  if (self._encoding && typeof chunk !== "string" && !self._objectMode) chunk = chunk.toString(self._encoding);
  queueMicrotask(function () { self.emit("data", chunk); });
  return true;
};
Readable.prototype.setEncoding = function (encoding) { this._encoding = encoding; return this; };
Readable.prototype.resume = function () { this._read(); return this; };
Readable.prototype.pause = function () { return this; };
Readable.prototype.destroy = function (error) {
  if (error) this.emit("error", error);
  this.emit("close");
  return this;
};
Readable.prototype[Symbol.asyncIterator] = function () {
  var self = this, queue = [], waiting = null, done = false, failure = null;
  self.on("data", function (c) { if (waiting) { var w = waiting; waiting = null; w.resolve({ value: c, done: false }); } else queue.push(c); });
  self.on("end", function () { done = true; if (waiting) { var w = waiting; waiting = null; w.resolve({ value: undefined, done: true }); } });
  self.on("error", function (e) { failure = e; if (waiting) { var w = waiting; waiting = null; w.reject(e); } });
  self.resume();
  return {
    next: function () {
      if (failure) return Promise.reject(failure);
      if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise(function (resolve, reject) { waiting = { resolve: resolve, reject: reject }; });
    },
    return: function () { return Promise.resolve({ value: undefined, done: true }); },
    [Symbol.asyncIterator]: function () { return this; },
  };
};
Readable.from = function (iterable, options) {
  var readable = new Readable(Object.assign({ objectMode: true }, options));
  (async function () {
    try {
      for await (var chunk of iterable) readable.push(chunk);
      readable.push(null);
    } catch (error) {
      readable.destroy(error);
    }
  })();
  return readable;
};

function Writable(options) {
  Stream.call(this, options);
  options = options || {};
  this.writable = true;
  this.writableEnded = false;
  this.writableFinished = false;
  if (typeof options.write === "function") this._write = options.write;
  if (typeof options.final === "function") this._final = options.final;
}
util.inherits(Writable, Stream);
Writable.prototype._write = function (chunk, encoding, callback) { callback(); };
Writable.prototype.write = function (chunk, encoding, callback) {
  if (typeof encoding === "function") { callback = encoding; encoding = undefined; }
  var self = this;
  this._write(chunk, encoding || "utf8", function (error) {
    if (error) self.emit("error", error);
    if (callback) callback(error);
  });
  return true;
};
Writable.prototype.end = function (chunk, encoding, callback) {
  if (typeof chunk === "function") { callback = chunk; chunk = undefined; }
  if (typeof encoding === "function") { callback = encoding; encoding = undefined; }
  var self = this;
  if (chunk !== undefined && chunk !== null) this.write(chunk, encoding);
  this.writableEnded = true;
  var finish = function () {
    self.writableFinished = true;
    self.emit("finish");
    self.emit("close");
    if (callback) callback();
  };
  if (this._final) this._final(function (error) { if (error) self.emit("error", error); else finish(); });
  else queueMicrotask(finish);
  return this;
};
Writable.prototype.cork = function () {};
Writable.prototype.uncork = function () {};
Writable.prototype.setDefaultEncoding = function () { return this; };
Writable.prototype.destroy = Readable.prototype.destroy;

function Duplex(options) {
  Readable.call(this, options);
  Writable.call(this, options);
}
util.inherits(Duplex, Readable);
["write", "end", "cork", "uncork", "setDefaultEncoding", "_write"].forEach(function (m) {
  if (!Duplex.prototype.hasOwnProperty(m)) Duplex.prototype[m] = Writable.prototype[m];
});

function Transform(options) {
  Duplex.call(this, options);
  options = options || {};
  if (typeof options.transform === "function") this._transform = options.transform;
  if (typeof options.flush === "function") this._flush = options.flush;
}
util.inherits(Transform, Duplex);
Transform.prototype._transform = function (chunk, encoding, callback) { callback(null, chunk); };
Transform.prototype._write = function (chunk, encoding, callback) {
  var self = this;
  this._transform(chunk, encoding, function (error, data) {
    if (data !== undefined && data !== null) self.push(data);
    callback(error);
  });
};
Transform.prototype._final = function (callback) {
  var self = this;
  var done = function (error, data) {
    if (data !== undefined && data !== null) self.push(data);
    self.push(null);
    callback(error);
  };
  if (this._flush) this._flush(done); else done();
};

function PassThrough(options) { Transform.call(this, options); }
util.inherits(PassThrough, Transform);

function finished(stream, callback) {
  var once = false;
  var done = function (error) { if (!once) { once = true; callback(error); } };
  stream.on("end", function () { done(); });
  stream.on("finish", function () { done(); });
  stream.on("error", done);
  return function () {};
}
function pipeline() {
  var streams = Array.prototype.slice.call(arguments);
  var callback = typeof streams[streams.length - 1] === "function" ? streams.pop() : null;
  for (var i = 0; i + 1 < streams.length; i++) streams[i].pipe(streams[i + 1]);
  var last = streams[streams.length - 1];
  if (callback) finished(last, callback);
  return last;
}

Stream.Stream = Stream;
Stream.Readable = Readable;
Stream.Writable = Writable;
Stream.Duplex = Duplex;
Stream.Transform = Transform;
Stream.PassThrough = PassThrough;
Stream.finished = finished;
Stream.pipeline = pipeline;
Stream.promises = {
  finished: function (stream) { return new Promise(function (resolve, reject) { finished(stream, function (e) { e ? reject(e) : resolve(); }); }); },
  pipeline: function () {
    var streams = Array.prototype.slice.call(arguments);
    return new Promise(function (resolve, reject) {
      pipeline.apply(null, streams.concat([function (e) { e ? reject(e) : resolve(); }]));
    });
  },
};
module.exports = Stream;
