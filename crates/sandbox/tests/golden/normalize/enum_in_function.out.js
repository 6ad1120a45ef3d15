(async () => {function make() {
  var Local; (function (Local) {
    Local[Local["A"] = 1] = "A"; 
    Local[Local["B"] = 2] = "B"; 
  })(Local || (Local = {}));
  return Local;
}
return (make())

})()
// shape: body
