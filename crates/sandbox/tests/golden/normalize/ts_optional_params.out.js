(async () => {function f(a         , b         )         {
  return `${a}${b}`;
}
const g = (x         ) => x ?? 0;
const h = function (y ) { return y; };
return (f() + g() + h())

})()
// shape: body
