(async () => {const n         = 2;
return (n * 2)

})()
// shape: body
