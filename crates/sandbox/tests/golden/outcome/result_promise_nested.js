return { later: Promise.resolve(1) };
