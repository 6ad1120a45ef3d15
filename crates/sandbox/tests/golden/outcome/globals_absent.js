// No network, file system, environment or process objects.
return ["fetch", "require", "process", "Deno", "Bun", "XMLHttpRequest", "WebSocket", "SharedArrayBuffer", "performance", "std", "os"]
  .filter((name) => typeof globalThis[name] !== "undefined");
