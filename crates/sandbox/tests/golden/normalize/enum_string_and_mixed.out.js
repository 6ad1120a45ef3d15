(async () => {var Color; (function (Color) { Color["Red"] = "RED";  Color["Green"] = "GREEN"; })(Color || (Color = {}));
var Flag; (function (Flag) {
  Flag[Flag["None"] = 0] = "None"; 
  Flag[Flag["A"] = 1] = "A"; 
  Flag[Flag["B"] = 2] = "B"; 
  Flag[Flag["AB"] = 3] = "AB"; 
  Flag["Named"] = "n"; 
  Flag["Suffixed"] = "n-x"; 
  Flag[Flag['quoted-key'] = 7] = 'quoted-key'; 
  Flag[Flag["Neg"] = -1] = "Neg"; 
  Flag[Flag["Next"] = 0] = "Next"; 
})(Flag || (Flag = {}));
;                         
var $default = [Color.Red, Flag.AB, Flag["quoted-key"], Flag[7], Flag.Next, Flag.Suffixed];

;return $default;})()
// shape: export_default
