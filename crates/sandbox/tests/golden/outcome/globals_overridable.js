// Lazily installed globals behave like ordinary writable properties.
URL = "mine";
globalThis.console = { log() {} };
return [typeof URL, URL, typeof console.log];
