(async () => {return ("just a string")

})()
// shape: body
