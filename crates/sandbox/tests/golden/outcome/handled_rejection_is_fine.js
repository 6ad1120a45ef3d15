const p = Promise.reject(new Error("late handler"));
await new Promise((r) => setTimeout(r, 1));
return await p.catch((e) => "caught: " + e.message);
