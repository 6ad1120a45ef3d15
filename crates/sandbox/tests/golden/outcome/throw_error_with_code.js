async () => {
  const e = new Error("disk full");
  e.code = "ENOSPC";
  throw e;
}
