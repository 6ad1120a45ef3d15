const bytes = new TextEncoder().encode("héllo €");
return {
  bytes: Array.from(bytes),
  back: new TextDecoder().decode(bytes),
  b64: btoa("hello"),
  unb64: atob("aGVsbG8="),
};
