(async () => {                                     
                                     
                      
                          
                                    
                               
          
const t        = {}         ;
return (t)

})()
// shape: body
