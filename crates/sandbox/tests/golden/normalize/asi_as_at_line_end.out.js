(async () => {let a = 1;         
(console.log)("x")
const b = a                 
;[b].map(String)
function f() {
  return a;         
}
const g = (v         ) => v;         
return ([a, b].length)

})()
// shape: body
