(async () => {const user = await codemode.getUser({ id: 1 });
if (!user) return null;
return user.name;

})()
// shape: body
