(async () => {function first                          (xs     )                {
  return xs[0];
}
const id =     (x   )    => x;
const idAsync = async    (x   ) => x;
const m = new Map                ();
const s = new Set        ;
const f = first                ([{ id: "a" }]);
class Box    extends Array    {
  value    ;
}
const tagged = String.raw        `a${1}`;
const inst = first                ;
const opt = id?.        (1);
return ([m.size, s.size, f, tagged, typeof inst, opt])

})()
// shape: body
