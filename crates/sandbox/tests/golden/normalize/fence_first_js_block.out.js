(async () => {return "second";

})()
// shape: body
