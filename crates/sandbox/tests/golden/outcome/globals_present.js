return ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "queueMicrotask", "structuredClone",
  "TextEncoder", "TextDecoder", "URL", "URLSearchParams", "atob", "btoa", "crypto", "console", "Map", "Promise", "Proxy", "WeakRef"]
  .map((name) => [name, typeof globalThis[name]]);
