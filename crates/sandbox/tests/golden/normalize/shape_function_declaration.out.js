(async function main()                    {
  const res = await codemode.search({ q: "x" });
  return res.items;
})()

// shape: function_declaration
