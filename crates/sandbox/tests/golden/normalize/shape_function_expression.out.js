(async function run() {
  return 1 + 1;
})()

// shape: arrow_or_function
