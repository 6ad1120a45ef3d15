const u = new URL("../x/y?q=1&q=2#frag", "https://Example.COM:443/a/b/c");
u.searchParams.append("s", "a b");
return {
  href: u.href,
  host: u.host,
  pathname: u.pathname,
  q: u.searchParams.getAll("q"),
  search: u.search,
  params: new URLSearchParams({ a: "1", b: "x&y" }).toString(),
};
