(async () => {return ((async () => {
  return await codemode.x();
})())

})()
// shape: body
