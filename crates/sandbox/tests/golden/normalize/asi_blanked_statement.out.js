(async () => {let x = 1
;              
(function () {})()
let y = x
;             
[1, 2].forEach(() => {})
let z = y
;                      
return (`template`)

})()
// shape: body
