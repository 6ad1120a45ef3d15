(async () => {class Point {
  constructor(       x        ,                  y         = 0, z         ) { this.x = x; this.y = y;
    console.log(z);
  }
}
class Base {
  constructor(          name        ) { this.name = name;}
}
class Derived extends Base {
  constructor(name        ,        extra        ) {
    super(name); this.extra = extra;
    this.after();
  }
  after() {}
}
const p = new Point(1, 2);
return ([p.x, new Derived("n", "e").extra])

})()
// shape: body
