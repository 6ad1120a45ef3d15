const id = crypto.randomUUID();
const bytes = crypto.getRandomValues(new Uint8Array(16));
return {
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id),
  distinct: crypto.randomUUID() !== id,
  filled: bytes.length === 16 && bytes.some((b) => b !== 0),
};
