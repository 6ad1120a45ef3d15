return { ok: 1, handler: () => 2 };
