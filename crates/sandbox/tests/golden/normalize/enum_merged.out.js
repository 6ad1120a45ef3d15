(async () => {var A; (function (A) { A[A["X"] = 1] = "X"; })(A || (A = {}));
var A; (function (A) { A[A["Y"] = 2] = "Y"; })(A || (A = {}));
const value          = [A.X, A.Y, A[2]]
return (value            )
})()
// shape: body
