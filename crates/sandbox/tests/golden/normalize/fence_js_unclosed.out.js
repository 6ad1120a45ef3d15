(async () => {const x = 1;
return (x + 1)

})()
// shape: body
