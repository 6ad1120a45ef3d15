                
             
                 
 

                        
                                     
(function main(limit = 10)         {
  return [{ id: "a" }].slice(0, limit);
})()

// shape: function_declaration
