              (async function main() {
  const a = await codemode.a();
  return a;
})()

// shape: export_default
