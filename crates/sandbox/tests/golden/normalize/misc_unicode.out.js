(async () => {const café         = "naïve 😀";
;                        
const v = { ü: café }       ;
return (v.ü)

})()
// shape: body
