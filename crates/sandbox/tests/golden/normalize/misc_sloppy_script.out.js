(async () => {var o = { a: 1 };
with (o) { a = 010; }
return (o.a)

})()
// shape: body
