(async function () {
  return 1;
})()

// shape: arrow_or_function
