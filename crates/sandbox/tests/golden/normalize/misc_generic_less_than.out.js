(async () => {const a = 1, b = 2, c = 3;
const r = a < b > c;
return (r)

})()
// shape: body
