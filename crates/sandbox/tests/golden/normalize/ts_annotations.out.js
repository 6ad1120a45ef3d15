(async () => {let count         = 0;
const names                = [];
let maybe                    ;
function add(a        , b         = 2)         {
  return a + b;
}
const mul = (a        , b        )         => a * b;
const obj = {
  get size()         { return 1; },
  method   (x   )    { return x; },
};
try {
  add(1);
} catch (e         ) {
  count = -1;
}
function rest(...xs          )       {}
const { a, b }                           = { a: 1, b: "x" };
return (count + mul(2, 3))

})()
// shape: body
