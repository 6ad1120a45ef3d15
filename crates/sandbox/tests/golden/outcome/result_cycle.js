const a = { name: "a", children: [] };
a.children.push({ parent: a });
return a;
