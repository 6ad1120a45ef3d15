              (async ()                => {
  await codemode.ping();
})();

// shape: export_default
