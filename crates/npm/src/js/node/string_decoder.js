// Node's StringDecoder: bytes arriving in chunks → text, never splitting a character.
var Buffer = require("node:buffer").Buffer;
function StringDecoder(encoding) {
  var enc = String(encoding || "utf8").toLowerCase().replace("-", "");
  if (enc === "binary") enc = "latin1";
  if (enc === "ucs2" || enc === "utf16le") enc = "utf16le";
  if (!Buffer.isEncoding(enc)) throw new TypeError("Unknown encoding: " + encoding);
  this.encoding = enc;
  this.pending = new Uint8Array(0);
}
function unit(enc) { return enc === "utf16le" ? 2 : enc === "base64" || enc === "base64url" ? 3 : 1; }
function utf8Complete(bytes) {
  // The length of the prefix that ends on a character boundary.
  var n = bytes.length;
  for (var back = 1; back <= Math.min(3, n); back++) {
    var b = bytes[n - back];
    if ((b & 0xc0) === 0x80) continue;
    var need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}
StringDecoder.prototype.write = function (chunk) {
  if (typeof chunk === "string") return chunk;
  var bytes = new Uint8Array(this.pending.length + chunk.length);
  bytes.set(this.pending); bytes.set(chunk, this.pending.length);
  var end = this.encoding === "utf8" ? utf8Complete(bytes) : bytes.length - (bytes.length % unit(this.encoding));
  this.pending = bytes.slice(end);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString(this.encoding);
};
StringDecoder.prototype.end = function (chunk) {
  var text = chunk ? this.write(chunk) : "";
  if (this.pending.length) {
    text += Buffer.from(this.pending).toString(this.encoding);
    this.pending = new Uint8Array(0);
  }
  return text;
};
StringDecoder.prototype.text = StringDecoder.prototype.write;
exports.StringDecoder = StringDecoder;
