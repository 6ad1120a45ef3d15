return [Symbol("s")];
