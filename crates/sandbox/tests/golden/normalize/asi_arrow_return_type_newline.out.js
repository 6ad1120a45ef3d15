(async () => {const f = (a        , b          
       ) => a + b;
const g = async (  
              ) => {};
return (f(1, 2))

})()
// shape: body
