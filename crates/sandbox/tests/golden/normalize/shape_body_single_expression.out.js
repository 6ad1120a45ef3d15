(async () => {return (1 + 2)

})()
// shape: body
