(async () => {                   
"use strict";
const x         = 1;
return (x)

})()
// shape: body
