return { when: { toJSON() { return "custom"; } } };
