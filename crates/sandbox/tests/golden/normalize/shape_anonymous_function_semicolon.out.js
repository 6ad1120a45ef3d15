(async function ()                  {
  return await codemode.count();
})();

// shape: arrow_or_function
