(async () => {
  const results = await codemode.search({ query: "weather" });
  return results.map((r) => r.title);
})()

// shape: arrow_or_function
