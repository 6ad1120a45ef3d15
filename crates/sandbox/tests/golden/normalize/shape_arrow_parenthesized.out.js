// Fetch and count.
(async () => {
  const items = await codemode.list();
  return items.length;
})();

// shape: arrow_or_function
