(async () => {const a = await codemode.a();
const b = await codemode.b();
return (({ a, b }))

})()
// shape: body
