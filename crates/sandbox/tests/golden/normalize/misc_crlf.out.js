(async () => {const a         = 1;
const b = a          ;
return (b + 1)

})()
// shape: body
