(async () => {const LIMIT = 5;

function top   (xs     )      {
  return xs.slice(0, LIMIT);
}

               async function main() {
  return top(await codemode.list());
}

const unused = 1

;return main();})()
// shape: export_default
