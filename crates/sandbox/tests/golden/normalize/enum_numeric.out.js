(async () => {var Direction; (function (Direction) {
  Direction[Direction["Up"] = 0] = "Up"; 
  Direction[Direction["Down"] = 1] = "Down"; 
  Direction[Direction["Left"] = 10] = "Left"; 
  Direction[Direction["Right"] = 11] = "Right"; 
})(Direction || (Direction = {}));
return ([Direction.Up, Direction.Right, Direction[11]])

})()
// shape: body
