(async () => {async function main() {
  return 42;
}
var $default = main;

;return typeof $default === "function" ? $default() : $default;})()
// shape: export_default
