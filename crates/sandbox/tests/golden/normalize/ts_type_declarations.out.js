(async () => {                 
                
         
               
 
                             
                                         
                    
                    
                         
 
                
                           
 
const u       = { id: "1", name: "n" };
;             
            
  
return (u.name)

})()
// shape: body
