(async () => {const base = 100;
var Computed; (function (Computed) {
  Computed[Computed["A"] = base + 1] = "A"; 
  Computed[Computed["B"] = Computed["A"] + 1] = "B"; 
  Computed[Computed["C"] = Computed.A * 2] = "C"; 
  Computed[Computed["D"] = "x".length] = "D"; 
  Computed["E"] = String(Computed.A) + "!"; 
})(Computed || (Computed = {}));
var One; (function (One) { One[One["Only"] = 0] = "Only"; })(One || (One = {})); var Two; (function (Two) { Two[Two["X"] = One.Only + 1] = "X"; })(Two || (Two = {}));
return ([Computed.A, Computed.B, Computed.C, Computed[202], Computed.D, Computed.E, Two.X])

})()
// shape: body
