(async () => {         class Shape                                        {
  ;                id         = "s";
  ;         static count = 0;
  ;                          
  ;                       
  ;                               
  ;                      
  ;        toString()         {
    return this.id;
  }
  name         ;
  size         ;
  optional ()       {}
  ;      get label()         { return "x"; }
  ;                      
  move(dx        , dy         )       {}
}
class Square extends Shape                  {
  area() { return 4; }
  sides = 4;
}
return (new Square().area())

})()
// shape: body
