// Node's Buffer: a Uint8Array subclass with Node's encodings (utf8, hex, base64,
// base64url, latin1/binary, ascii, utf16le/ucs2) and its read/write helpers.
var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
var B64_LOOKUP = new Int16Array(256).fill(-1);
for (var k = 0; k < B64.length; k++) B64_LOOKUP[B64.charCodeAt(k)] = k;
B64_LOOKUP[45] = 62; // '-'
B64_LOOKUP[95] = 63; // '_'
var utf8Encoder = new TextEncoder();

function normalizeEncoding(enc) {
  if (enc === undefined || enc === null) return "utf8";
  switch (String(enc).toLowerCase()) {
    case "utf8": case "utf-8": return "utf8";
    case "hex": return "hex";
    case "base64": return "base64";
    case "base64url": return "base64url";
    case "latin1": case "binary": return "latin1";
    case "ascii": return "ascii";
    case "ucs2": case "ucs-2": case "utf16le": case "utf-16le": return "utf16le";
    default: return null;
  }
}
function checkEncoding(enc) {
  var e = normalizeEncoding(enc);
  if (e === null) throw new TypeError("Unknown encoding: " + enc);
  return e;
}

function utf8Decode(bytes, start, end) {
  var out = "", i = start;
  while (i < end) {
    var b = bytes[i], cp = 0xfffd, n = 1;
    if (b < 0x80) { cp = b; }
    else if (b >= 0xc2 && b < 0xe0 && i + 1 < end && (bytes[i + 1] & 0xc0) === 0x80) {
      cp = ((b & 0x1f) << 6) | (bytes[i + 1] & 0x3f); n = 2;
    } else if (b >= 0xe0 && b < 0xf0 && i + 2 < end && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80) {
      var c3 = ((b & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      if (c3 >= 0x800 && (c3 < 0xd800 || c3 > 0xdfff)) { cp = c3; n = 3; }
    } else if (b >= 0xf0 && b < 0xf5 && i + 3 < end && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80 && (bytes[i + 3] & 0xc0) === 0x80) {
      var c4 = ((b & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
      if (c4 >= 0x10000 && c4 <= 0x10ffff) { cp = c4; n = 4; }
    }
    out += String.fromCodePoint(cp);
    i += n;
  }
  return out;
}

function base64Decode(str) {
  var clean = String(str).replace(/[^A-Za-z0-9+/\-_]/g, "");
  var len = clean.length, out = new Uint8Array(Math.floor(len * 3 / 4)), o = 0, acc = 0, bits = 0;
  for (var i = 0; i < len; i++) {
    acc = (acc << 6) | B64_LOOKUP[clean.charCodeAt(i)];
    bits += 6;
    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 0xff; }
  }
  return out.subarray(0, o);
}
function base64Encode(bytes, start, end, url) {
  var alphabet = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" : B64;
  var out = "", i = start;
  for (; i + 2 < end; i += 3) {
    var n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + alphabet[n & 63];
  }
  if (i < end) {
    var rest = end - i;
    var m = (bytes[i] << 16) | (rest > 1 ? bytes[i + 1] << 8 : 0);
    out += alphabet[m >> 18] + alphabet[(m >> 12) & 63];
    out += rest > 1 ? alphabet[(m >> 6) & 63] : (url ? "" : "=");
    out += url ? "" : "=";
  }
  return out;
}

function encode(string, encoding) {
  string = String(string);
  switch (encoding) {
    case "utf8": return utf8Encoder.encode(string);
    case "hex": {
      var n = string.length >>> 1, out = new Uint8Array(n), o = 0;
      for (var i = 0; i < n; i++) {
        var byte = parseInt(string.substr(i * 2, 2), 16);
        if (Number.isNaN(byte)) break;
        out[o++] = byte;
      }
      return out.subarray(0, o);
    }
    case "base64": case "base64url": return base64Decode(string);
    case "latin1": case "ascii": {
      var l = new Uint8Array(string.length);
      for (var j = 0; j < string.length; j++) l[j] = string.charCodeAt(j) & 0xff;
      return l;
    }
    case "utf16le": {
      var u = new Uint8Array(string.length * 2);
      for (var q = 0; q < string.length; q++) {
        var c = string.charCodeAt(q);
        u[q * 2] = c & 0xff; u[q * 2 + 1] = c >> 8;
      }
      return u;
    }
  }
}

function decode(bytes, encoding, start, end) {
  switch (encoding) {
    case "utf8": return utf8Decode(bytes, start, end);
    case "hex": {
      var s = "";
      for (var i = start; i < end; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
      return s;
    }
    case "base64": return base64Encode(bytes, start, end, false);
    case "base64url": return base64Encode(bytes, start, end, true);
    case "latin1": case "ascii": {
      var t = "", mask = encoding === "ascii" ? 0x7f : 0xff;
      for (var j = start; j < end; j += 4096) {
        var chunk = [];
        for (var x = j; x < Math.min(end, j + 4096); x++) chunk.push(bytes[x] & mask);
        t += String.fromCharCode.apply(null, chunk);
      }
      return t;
    }
    case "utf16le": {
      var w = "";
      for (var q = start; q + 1 < end; q += 2) w += String.fromCharCode(bytes[q] | (bytes[q + 1] << 8));
      return w;
    }
  }
}

class Buffer extends Uint8Array {
  static from(value, encodingOrOffset, length) {
    if (typeof value === "string") {
      var bytes = encode(value, checkEncoding(encodingOrOffset));
      var b = new Buffer(bytes.length);
      b.set(bytes);
      return b;
    }
    if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
      var offset = encodingOrOffset === undefined ? 0 : Number(encodingOrOffset);
      var len = length === undefined ? value.byteLength - offset : Number(length);
      return new Buffer(value, offset, len);
    }
    if (ArrayBuffer.isView(value)) {
      var copy = new Buffer(value.byteLength);
      copy.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      return copy;
    }
    if (value && typeof value === "object") {
      if (value.type === "Buffer" && Array.isArray(value.data)) return Buffer.from(value.data);
      if (typeof value.length === "number" || Array.isArray(value)) {
        var arr = new Buffer(value.length >>> 0);
        for (var i = 0; i < arr.length; i++) arr[i] = value[i] & 0xff;
        return arr;
      }
      if (typeof value.valueOf === "function" && value.valueOf() !== value) return Buffer.from(value.valueOf(), encodingOrOffset, length);
      if (typeof value[Symbol.toPrimitive] === "function") return Buffer.from(value[Symbol.toPrimitive]("string"), encodingOrOffset, length);
    }
    throw new TypeError("The first argument must be of type string, Buffer, ArrayBuffer, Array, or Array-like Object. Received " + (value === null ? "null" : typeof value));
  }
  static alloc(size, fill, encoding) {
    var b = new Buffer(checkSize(size));
    if (fill !== undefined && fill !== 0) b.fill(fill, 0, b.length, encoding);
    return b;
  }
  static allocUnsafe(size) { return new Buffer(checkSize(size)); }
  static allocUnsafeSlow(size) { return new Buffer(checkSize(size)); }
  static isBuffer(value) { return value instanceof Buffer; }
  static isEncoding(enc) { return typeof enc === "string" && normalizeEncoding(enc) !== null; }
  static byteLength(value, encoding) {
    if (typeof value !== "string") return value.byteLength;
    return encode(value, checkEncoding(encoding)).length;
  }
  static concat(list, totalLength) {
    if (!Array.isArray(list)) throw new TypeError('The "list" argument must be an instance of Array');
    if (totalLength === undefined) totalLength = list.reduce(function (n, b) { return n + b.length; }, 0);
    var out = Buffer.alloc(totalLength), at = 0;
    for (var i = 0; i < list.length && at < totalLength; i++) {
      var b = list[i];
      var part = b.length > totalLength - at ? b.subarray(0, totalLength - at) : b;
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
  static compare(a, b) { return a.compare(b); }
  static of() { return Buffer.from(Array.prototype.slice.call(arguments)); }

  toString(encoding, start, end) {
    start = start === undefined ? 0 : Math.max(0, start | 0);
    end = end === undefined ? this.length : Math.min(this.length, end | 0);
    if (end <= start) return "";
    return decode(this, checkEncoding(encoding), start, end);
  }
  toLocaleString(encoding, start, end) { return this.toString(encoding, start, end); }
  toJSON() { return { type: "Buffer", data: Array.prototype.slice.call(this) }; }
  equals(other) { return this.compare(other) === 0; }
  compare(target, tStart, tEnd, sStart, sEnd) {
    tStart = tStart || 0; tEnd = tEnd === undefined ? target.length : tEnd;
    sStart = sStart || 0; sEnd = sEnd === undefined ? this.length : sEnd;
    var x = sEnd - sStart, y = tEnd - tStart, n = Math.min(x, y);
    for (var i = 0; i < n; i++) {
      var a = this[sStart + i], b = target[tStart + i];
      if (a !== b) return a < b ? -1 : 1;
    }
    return x < y ? -1 : x > y ? 1 : 0;
  }
  copy(target, targetStart, sourceStart, sourceEnd) {
    targetStart = targetStart || 0; sourceStart = sourceStart || 0;
    sourceEnd = sourceEnd === undefined ? this.length : sourceEnd;
    var n = Math.min(sourceEnd - sourceStart, target.length - targetStart);
    if (n <= 0) return 0;
    target.set(this.subarray(sourceStart, sourceStart + n), targetStart);
    return n;
  }
  slice(start, end) { return this.subarray(start, end); }
  subarray(start, end) {
    var view = Uint8Array.prototype.subarray.call(this, start, end);
    return new Buffer(view.buffer, view.byteOffset, view.length);
  }
  write(string, offset, length, encoding) {
    if (typeof offset === "string") { encoding = offset; offset = 0; length = undefined; }
    else if (typeof length === "string") { encoding = length; length = undefined; }
    offset = offset >>> 0;
    var bytes = encode(string, checkEncoding(encoding));
    var n = Math.min(bytes.length, this.length - offset, length === undefined ? Infinity : length);
    this.set(bytes.subarray(0, n), offset);
    return n;
  }
  fill(value, offset, end, encoding) {
    if (typeof offset === "string") { encoding = offset; offset = 0; end = this.length; }
    offset = offset === undefined ? 0 : offset; end = end === undefined ? this.length : end;
    if (typeof value === "string") {
      var bytes = encode(value, checkEncoding(encoding));
      if (bytes.length === 0) bytes = new Uint8Array([0]);
      for (var i = offset; i < end; i++) this[i] = bytes[(i - offset) % bytes.length];
      return this;
    }
    if (ArrayBuffer.isView(value)) {
      for (var j = offset; j < end; j++) this[j] = value[(j - offset) % value.length];
      return this;
    }
    Uint8Array.prototype.fill.call(this, Number(value) & 0xff, offset, end);
    return this;
  }
  indexOf(value, byteOffset, encoding) { return search(this, value, byteOffset, encoding, true); }
  lastIndexOf(value, byteOffset, encoding) { return search(this, value, byteOffset, encoding, false); }
  includes(value, byteOffset, encoding) { return this.indexOf(value, byteOffset, encoding) !== -1; }
  swap16() { for (var i = 0; i + 1 < this.length; i += 2) { var t = this[i]; this[i] = this[i + 1]; this[i + 1] = t; } return this; }
  swap32() { for (var i = 0; i + 3 < this.length; i += 4) { this.subarray(i, i + 4).reverse(); } return this; }
  get parent() { return this.buffer; }
  get offset() { return this.byteOffset; }
}

function checkSize(size) {
  if (typeof size !== "number" || size < 0 || size !== size) {
    throw new RangeError('The argument "size" is invalid. Received ' + size);
  }
  return size | 0;
}

function search(buf, value, byteOffset, encoding, forward) {
  if (typeof byteOffset === "string") { encoding = byteOffset; byteOffset = undefined; }
  var needle = typeof value === "number" ? new Uint8Array([value & 0xff])
    : typeof value === "string" ? encode(value, checkEncoding(encoding)) : value;
  var len = buf.length, n = needle.length;
  var start = byteOffset === undefined ? (forward ? 0 : len - n) : (byteOffset < 0 ? len + byteOffset : byteOffset);
  if (n === 0) return Math.min(start, len);
  if (forward) {
    for (var i = Math.max(0, start); i <= len - n; i++) if (matchAt(buf, needle, i)) return i;
  } else {
    for (var j = Math.min(start, len - n); j >= 0; j--) if (matchAt(buf, needle, j)) return j;
  }
  return -1;
}
function matchAt(buf, needle, at) {
  for (var k = 0; k < needle.length; k++) if (buf[at + k] !== needle[k]) return false;
  return true;
}

function view(buf) { return new DataView(buf.buffer, buf.byteOffset, buf.byteLength); }
function checkOffset(buf, offset, size) {
  offset = offset === undefined ? 0 : offset;
  if (offset < 0 || offset + size > buf.length || offset % 1 !== 0) {
    var e = new RangeError('The value of "offset" is out of range. It must be >= 0 and <= ' + (buf.length - size) + ". Received " + offset);
    e.code = "ERR_OUT_OF_RANGE";
    throw e;
  }
  return offset;
}
var accessors = [
  ["UInt8", "Uint8", 1], ["Int8", "Int8", 1],
  ["UInt16", "Uint16", 2], ["Int16", "Int16", 2],
  ["UInt32", "Uint32", 4], ["Int32", "Int32", 4],
  ["Float", "Float32", 4], ["Double", "Float64", 8],
  ["BigUInt64", "BigUint64", 8], ["BigInt64", "BigInt64", 8],
];
accessors.forEach(function (a) {
  var name = a[0], dv = a[1], size = a[2];
  var endians = size === 1 ? [""] : ["LE", "BE"];
  endians.forEach(function (e) {
    var little = e === "LE";
    Buffer.prototype["read" + name + e] = function (offset) {
      offset = checkOffset(this, offset, size);
      return view(this)["get" + dv](offset, little);
    };
    Buffer.prototype["write" + name + e] = function (value, offset) {
      offset = checkOffset(this, offset, size);
      view(this)["set" + dv](offset, value, little);
      return offset + size;
    };
  });
});
["UInt8", "UInt16LE", "UInt16BE", "UInt32LE", "UInt32BE"].forEach(function (n) {
  Buffer.prototype["read" + n.replace("UInt", "Uint")] = Buffer.prototype["read" + n];
  Buffer.prototype["write" + n.replace("UInt", "Uint")] = Buffer.prototype["write" + n];
});
Buffer.prototype.readUIntBE = function (offset, length) {
  checkOffset(this, offset, length);
  var v = 0;
  for (var i = 0; i < length; i++) v = v * 256 + this[offset + i];
  return v;
};
Buffer.prototype.readUIntLE = function (offset, length) {
  checkOffset(this, offset, length);
  var v = 0;
  for (var i = length - 1; i >= 0; i--) v = v * 256 + this[offset + i];
  return v;
};
Buffer.prototype.readIntBE = function (offset, length) {
  var v = this.readUIntBE(offset, length), limit = Math.pow(2, 8 * length - 1);
  return v >= limit ? v - limit * 2 : v;
};
Buffer.prototype.readIntLE = function (offset, length) {
  var v = this.readUIntLE(offset, length), limit = Math.pow(2, 8 * length - 1);
  return v >= limit ? v - limit * 2 : v;
};
Buffer.prototype.writeUIntBE = function (value, offset, length) {
  checkOffset(this, offset, length);
  for (var i = length - 1; i >= 0; i--) { this[offset + i] = value & 0xff; value = Math.floor(value / 256); }
  return offset + length;
};
Buffer.prototype.writeUIntLE = function (value, offset, length) {
  checkOffset(this, offset, length);
  for (var i = 0; i < length; i++) { this[offset + i] = value & 0xff; value = Math.floor(value / 256); }
  return offset + length;
};
Buffer.prototype.writeIntBE = function (value, offset, length) {
  return this.writeUIntBE(value < 0 ? value + Math.pow(2, 8 * length) : value, offset, length);
};
Buffer.prototype.writeIntLE = function (value, offset, length) {
  return this.writeUIntLE(value < 0 ? value + Math.pow(2, 8 * length) : value, offset, length);
};
Buffer.poolSize = 8192;

exports.Buffer = Buffer;
exports.SlowBuffer = Buffer;
exports.kMaxLength = 0x7fffffff;
exports.kStringMaxLength = 0x1fffffe8;
exports.constants = { MAX_LENGTH: 0x7fffffff, MAX_STRING_LENGTH: 0x1fffffe8 };
exports.INSPECT_MAX_BYTES = 50;
exports.atob = function (s) { return atob(s); };
exports.btoa = function (s) { return btoa(s); };
exports.isUtf8 = function (input) {
  try { new TextDecoder("utf-8", { fatal: true }).decode(input); return true; } catch (e) { return false; }
};
exports.transcode = function () { throw new Error("buffer.transcode is not available in the sandbox"); };
exports.Blob = globalThis.Blob;
