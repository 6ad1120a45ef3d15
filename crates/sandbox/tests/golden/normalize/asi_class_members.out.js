(async () => {class Svc {
  x = 1
  ;      [Symbol.iterator]() {}
  y = 2
  ;       *gen() {}
  z = 3
  ;        ["w"] = 4;
}
return (new Svc().x)

})()
// shape: body
