// Node's crypto, the part that needs no keys or ciphers: hashes (md5, sha1, sha224,
// sha256, sha384, sha512), HMAC, random bytes/ints/UUIDs, timingSafeEqual, and the Web
// Crypto object of the isolate. Ciphers and key operations throw.
var Buffer = require("node:buffer").Buffer;

function rotl(x, n) { return (x << n) | (x >>> (32 - n)); }
function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

function pad(bytes, littleEndian, blockSize) {
  var lenField = blockSize === 128 ? 16 : 8;
  var total = Math.ceil((bytes.length + 1 + lenField) / blockSize) * blockSize;
  var out = new Uint8Array(total);
  out.set(bytes);
  out[bytes.length] = 0x80;
  var bits = bytes.length * 8;
  var dv = new DataView(out.buffer);
  var hi = Math.floor(bits / 0x100000000), lo = bits >>> 0;
  if (littleEndian) { dv.setUint32(total - 8, lo, true); dv.setUint32(total - 4, hi, true); }
  else { dv.setUint32(total - 8, hi, false); dv.setUint32(total - 4, lo, false); }
  return out;
}

var MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
var MD5_K = [];
for (var i = 0; i < 64; i++) MD5_K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;
function md5(bytes) {
  var m = pad(bytes, true, 64), dv = new DataView(m.buffer);
  var a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
  var w = new Int32Array(16);
  for (var off = 0; off < m.length; off += 64) {
    for (var j = 0; j < 16; j++) w[j] = dv.getInt32(off + j * 4, true);
    var a = a0, b = b0, c = c0, d = d0;
    for (var r = 0; r < 64; r++) {
      var f, g;
      if (r < 16) { f = (b & c) | (~b & d); g = r; }
      else if (r < 32) { f = (d & b) | (~d & c); g = (5 * r + 1) % 16; }
      else if (r < 48) { f = b ^ c ^ d; g = (3 * r + 5) % 16; }
      else { f = c ^ (b | ~d); g = (7 * r) % 16; }
      var tmp = d; d = c; c = b;
      b = (b + rotl((a + f + MD5_K[r] + w[g]) | 0, MD5_S[(r >> 4) * 4 + (r % 4)])) | 0;
      a = tmp;
    }
    a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
  }
  var out = new Uint8Array(16), odv = new DataView(out.buffer);
  [a0, b0, c0, d0].forEach(function (v, k) { odv.setInt32(k * 4, v, true); });
  return out;
}

function sha1(bytes) {
  var m = pad(bytes, false, 64), dv = new DataView(m.buffer);
  var h = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];
  var w = new Int32Array(80);
  for (var off = 0; off < m.length; off += 64) {
    for (var j = 0; j < 16; j++) w[j] = dv.getInt32(off + j * 4);
    for (j = 16; j < 80; j++) w[j] = rotl(w[j - 3] ^ w[j - 8] ^ w[j - 14] ^ w[j - 16], 1);
    var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (j = 0; j < 80; j++) {
      var f, k;
      if (j < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
      else if (j < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
      else if (j < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc | 0; }
      else { f = b ^ c ^ d; k = 0xca62c1d6 | 0; }
      var t = (rotl(a, 5) + f + e + k + w[j]) | 0;
      e = d; d = c; c = rotl(b, 30); b = a; a = t;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0; h[4] = (h[4] + e) | 0;
  }
  return words(h, 5);
}

var K256 = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
function sha256(bytes, is224) {
  var m = pad(bytes, false, 64), dv = new DataView(m.buffer);
  var h = is224
    ? [0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4]
    : [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  h = h.map(function (x) { return x | 0; });
  var w = new Int32Array(64);
  for (var off = 0; off < m.length; off += 64) {
    for (var j = 0; j < 16; j++) w[j] = dv.getInt32(off + j * 4);
    for (j = 16; j < 64; j++) {
      var s0 = rotr(w[j - 15], 7) ^ rotr(w[j - 15], 18) ^ (w[j - 15] >>> 3);
      var s1 = rotr(w[j - 2], 17) ^ rotr(w[j - 2], 19) ^ (w[j - 2] >>> 10);
      w[j] = (w[j - 16] + s0 + w[j - 7] + s1) | 0;
    }
    var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (j = 0; j < 64; j++) {
      var S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      var ch = (e & f) ^ (~e & g);
      var t1 = (hh + S1 + ch + K256[j] + w[j]) | 0;
      var S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      var maj = (a & b) ^ (a & c) ^ (b & c);
      var t2 = (S0 + maj) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
  }
  return words(h, is224 ? 7 : 8);
}

var K512 = null;
function sha512(bytes, is384) {
  var M = (1n << 64n) - 1n;
  if (!K512) {
    K512 = [
      "428a2f98d728ae22", "7137449123ef65cd", "b5c0fbcfec4d3b2f", "e9b5dba58189dbbc", "3956c25bf348b538", "59f111f1b605d019", "923f82a4af194f9b", "ab1c5ed5da6d8118",
      "d807aa98a3030242", "12835b0145706fbe", "243185be4ee4b28c", "550c7dc3d5ffb4e2", "72be5d74f27b896f", "80deb1fe3b1696b1", "9bdc06a725c71235", "c19bf174cf692694",
      "e49b69c19ef14ad2", "efbe4786384f25e3", "0fc19dc68b8cd5b5", "240ca1cc77ac9c65", "2de92c6f592b0275", "4a7484aa6ea6e483", "5cb0a9dcbd41fbd4", "76f988da831153b5",
      "983e5152ee66dfab", "a831c66d2db43210", "b00327c898fb213f", "bf597fc7beef0ee4", "c6e00bf33da88fc2", "d5a79147930aa725", "06ca6351e003826f", "142929670a0e6e70",
      "27b70a8546d22ffc", "2e1b21385c26c926", "4d2c6dfc5ac42aed", "53380d139d95b3df", "650a73548baf63de", "766a0abb3c77b2a8", "81c2c92e47edaee6", "92722c851482353b",
      "a2bfe8a14cf10364", "a81a664bbc423001", "c24b8b70d0f89791", "c76c51a30654be30", "d192e819d6ef5218", "d69906245565a910", "f40e35855771202a", "106aa07032bbd1b8",
      "19a4c116b8d2d0c8", "1e376c085141ab53", "2748774cdf8eeb99", "34b0bcb5e19b48a8", "391c0cb3c5c95a63", "4ed8aa4ae3418acb", "5b9cca4f7763e373", "682e6ff3d6b2b8a3",
      "748f82ee5defb2fc", "78a5636f43172f60", "84c87814a1f0ab72", "8cc702081a6439ec", "90befffa23631e28", "a4506cebde82bde9", "bef9a3f7b2c67915", "c67178f2e372532b",
      "ca273eceea26619c", "d186b8c721c0c207", "eada7dd6cde0eb1e", "f57d4f7fee6ed178", "06f067aa72176fba", "0a637dc5a2c898a6", "113f9804bef90dae", "1b710b35131c471b",
      "28db77f523047d84", "32caab7b40c72493", "3c9ebe0a15c9bebc", "431d67c49c100d4c", "4cc5d4becb3e42b6", "597f299cfc657e2a", "5fcb6fab3ad6faec", "6c44198c4a475817",
    ].map(function (x) { return BigInt("0x" + x); });
  }
  var H = (is384
    ? ["cbbb9d5dc1059ed8", "629a292a367cd507", "9159015a3070dd17", "152fecd8f70e5939", "67332667ffc00b31", "8eb44a8768581511", "db0c2e0d64f98fa7", "47b5481dbefa4fa4"]
    : ["6a09e667f3bcc908", "bb67ae8584caa73b", "3c6ef372fe94f82b", "a54ff53a5f1d36f1", "510e527fade682d1", "9b05688c2b3e6c1f", "1f83d9abfb41bd6b", "5be0cd19137e2179"]
  ).map(function (x) { return BigInt("0x" + x); });
  function r(x, n) { return ((x >> BigInt(n)) | (x << BigInt(64 - n))) & M; }
  var m = pad(bytes, false, 128), dv = new DataView(m.buffer), w = new Array(80);
  for (var off = 0; off < m.length; off += 128) {
    for (var j = 0; j < 16; j++) w[j] = dv.getBigUint64(off + j * 8);
    for (j = 16; j < 80; j++) {
      var s0 = r(w[j - 15], 1) ^ r(w[j - 15], 8) ^ (w[j - 15] >> 7n);
      var s1 = r(w[j - 2], 19) ^ r(w[j - 2], 61) ^ (w[j - 2] >> 6n);
      w[j] = (w[j - 16] + s0 + w[j - 7] + s1) & M;
    }
    var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (j = 0; j < 80; j++) {
      var t1 = (h + (r(e, 14) ^ r(e, 18) ^ r(e, 41)) + ((e & f) ^ (~e & M & g)) + K512[j] + w[j]) & M;
      var t2 = ((r(a, 28) ^ r(a, 34) ^ r(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))) & M;
      h = g; g = f; f = e; e = (d + t1) & M; d = c; c = b; b = a; a = (t1 + t2) & M;
    }
    H = [H[0] + a, H[1] + b, H[2] + c, H[3] + d, H[4] + e, H[5] + f, H[6] + g, H[7] + h].map(function (x) { return x & M; });
  }
  var n = is384 ? 6 : 8, out = new Uint8Array(n * 8), odv = new DataView(out.buffer);
  for (var k = 0; k < n; k++) odv.setBigUint64(k * 8, H[k]);
  return out;
}

function words(h, n) {
  var out = new Uint8Array(n * 4), dv = new DataView(out.buffer);
  for (var k = 0; k < n; k++) dv.setInt32(k * 4, h[k]);
  return out;
}

var HASHES = {
  md5: { fn: md5, block: 64 },
  sha1: { fn: sha1, block: 64 },
  sha224: { fn: function (b) { return sha256(b, true); }, block: 64 },
  sha256: { fn: function (b) { return sha256(b, false); }, block: 64 },
  sha384: { fn: function (b) { return sha512(b, true); }, block: 128 },
  sha512: { fn: function (b) { return sha512(b, false); }, block: 128 },
};
function algorithm(name) {
  var key = String(name).toLowerCase().replace(/-/g, "");
  var found = HASHES[key];
  if (!found) throw new Error("Digest method not supported: " + name + " (the sandbox has " + Object.keys(HASHES).join(", ") + ")");
  return found;
}
function toBytes(data, encoding) {
  if (typeof data === "string") return Buffer.from(data, encoding);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView');
}
function concat(chunks) {
  var n = chunks.reduce(function (s, c) { return s + c.length; }, 0), out = new Uint8Array(n), at = 0;
  chunks.forEach(function (c) { out.set(c, at); at += c.length; });
  return out;
}
function output(bytes, encoding) {
  var buf = Buffer.from(bytes);
  return encoding === undefined || encoding === "buffer" ? buf : buf.toString(encoding);
}

function Hash(name) {
  this._alg = algorithm(name);
  this._chunks = [];
  this._done = false;
}
Hash.prototype.update = function (data, encoding) {
  if (this._done) throw new Error("Digest already called");
  this._chunks.push(Uint8Array.from(toBytes(data, encoding)));
  return this;
};
Hash.prototype.digest = function (encoding) {
  if (this._done) throw new Error("Digest already called");
  this._done = true;
  return output(this._alg.fn(concat(this._chunks)), encoding);
};
Hash.prototype.copy = function () {
  var h = Object.create(Hash.prototype);
  h._alg = this._alg; h._chunks = this._chunks.slice(); h._done = false;
  return h;
};

function Hmac(name, key) {
  var alg = algorithm(name);
  var k = toBytes(typeof key === "object" && key !== null && key.export ? key.export() : key);
  if (k.length > alg.block) k = alg.fn(k);
  var padded = new Uint8Array(alg.block);
  padded.set(k);
  this._alg = alg;
  this._inner = padded.map(function (b) { return b ^ 0x36; });
  this._outer = padded.map(function (b) { return b ^ 0x5c; });
  this._chunks = [this._inner];
  this._done = false;
}
Hmac.prototype.update = Hash.prototype.update;
Hmac.prototype.digest = function (encoding) {
  if (this._done) throw new Error("Digest already called");
  this._done = true;
  var inner = this._alg.fn(concat(this._chunks));
  return output(this._alg.fn(concat([this._outer, inner])), encoding);
};

function randomBytes(size, callback) {
  var out = Buffer.alloc(size);
  for (var at = 0; at < size; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(size, at + 65536)));
  if (typeof callback === "function") { queueMicrotask(function () { callback(null, out); }); return undefined; }
  return out;
}
function randomFillSync(buf, offset, size) {
  offset = offset || 0;
  var view = new Uint8Array(buf.buffer || buf, (buf.byteOffset || 0) + offset, size === undefined ? (buf.byteLength - offset) : size);
  view.set(randomBytes(view.length));
  return buf;
}
function randomInt(min, max, callback) {
  if (max === undefined || typeof max === "function") { callback = max; max = min; min = 0; }
  var range = max - min;
  if (!(range > 0) || range > 0xffffffffffff) throw new RangeError('The value of "max" is out of range. It must be greater than the value of "min" and the range must be at most 2**48');
  var limit = Math.floor(0x1000000000000 / range) * range, x;
  do {
    var b = randomBytes(6);
    x = b.readUIntBE(0, 6);
  } while (x >= limit);
  var value = min + (x % range);
  if (typeof callback === "function") { queueMicrotask(function () { callback(null, value); }); return undefined; }
  return value;
}
// Secret keys only (HMAC); asymmetric keys need operations the sandbox does not offer.
class KeyObject {
  constructor(type, bytes) { this.type = type; this._bytes = bytes; }
  get symmetricKeySize() { return this._bytes.length; }
  export() { return Buffer.from(this._bytes); }
  equals(other) { return other instanceof KeyObject && Buffer.from(this._bytes).equals(Buffer.from(other._bytes)); }
}
function unsupported(name) {
  return function () {
    throw new Error("crypto." + name + " is not available in the sandbox: only hashes, HMAC and random values are; use crypto.subtle where the isolate offers it");
  };
}
module.exports = {
  createHash: function (name) { return new Hash(name); },
  createHmac: function (name, key) { return new Hmac(name, key); },
  hash: function (name, data, encoding) { return new Hash(name).update(data).digest(encoding || "hex"); },
  getHashes: function () { return Object.keys(HASHES); },
  randomBytes: randomBytes,
  pseudoRandomBytes: randomBytes,
  randomFillSync: randomFillSync,
  randomFill: function (buf, offset, size, cb) {
    cb = [offset, size, cb].find(function (x) { return typeof x === "function"; });
    randomFillSync(buf, typeof offset === "number" ? offset : 0, typeof size === "number" ? size : undefined);
    queueMicrotask(function () { cb(null, buf); });
  },
  randomInt: randomInt,
  randomUUID: function () { return crypto.randomUUID(); },
  getRandomValues: function (array) { return crypto.getRandomValues(array); },
  timingSafeEqual: function (a, b) {
    if (a.byteLength !== b.byteLength) throw new RangeError("Input buffers must have the same byte length");
    var x = toBytes(a), y = toBytes(b), diff = 0;
    for (var i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
    return diff === 0;
  },
  webcrypto: globalThis.crypto,
  subtle: globalThis.crypto && globalThis.crypto.subtle,
  constants: {},
  createCipheriv: unsupported("createCipheriv"),
  createDecipheriv: unsupported("createDecipheriv"),
  createSign: unsupported("createSign"),
  createVerify: unsupported("createVerify"),
  generateKeyPair: unsupported("generateKeyPair"),
  generateKeyPairSync: unsupported("generateKeyPairSync"),
  createPublicKey: unsupported("createPublicKey"),
  createPrivateKey: unsupported("createPrivateKey"),
  createSecretKey: function (key, encoding) { return new KeyObject("secret", Uint8Array.from(toBytes(key, encoding))); },
  KeyObject: KeyObject,
  pbkdf2: unsupported("pbkdf2"),
  pbkdf2Sync: unsupported("pbkdf2Sync"),
  scrypt: unsupported("scrypt"),
  scryptSync: unsupported("scryptSync"),
  createECDH: unsupported("createECDH"),
  createDiffieHellman: unsupported("createDiffieHellman"),
};
