(async () => {const forecast         = await codemode.weather({ city: "Paris" });
return (forecast.toUpperCase())

})()
// shape: body
