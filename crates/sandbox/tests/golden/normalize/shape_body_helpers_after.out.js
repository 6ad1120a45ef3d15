(async () => {const data = await codemode.fetch();
return summarize(data);

function summarize(d           )         {
  return d.length;
}

})()
// shape: body
