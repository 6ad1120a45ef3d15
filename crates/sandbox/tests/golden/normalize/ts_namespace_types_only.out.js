(async () => {                 
                                  
                         
 
                           
                  
 
const a          = { x: 1 };
return (a.x)

})()
// shape: body
