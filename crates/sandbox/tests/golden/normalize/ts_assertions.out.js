(async () => {const el = document       ;
const config = { mode: "fast" }         ;
const checked = { a: 1 }                                 ;
const len = (el.items ).length;
let later         ;
later =         el.name;
const chained = (el                            ).x;
(el       ).y = 2;
el .z = 3;
const nn = el.a .b ;
return ([config, checked, len, chained, nn])

})()
// shape: body
