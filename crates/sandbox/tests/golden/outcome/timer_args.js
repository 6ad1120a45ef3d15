return await new Promise((resolve) => setTimeout((a, b) => resolve(a + b), 1, 40, 2));
