console.log("log", 1);
console.info("info");
console.warn("warn");
console.error("error");
console.debug("debug");
return null;
