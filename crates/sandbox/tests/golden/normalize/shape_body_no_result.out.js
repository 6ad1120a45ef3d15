(async () => {const x = 1;
for (const i of [1, 2, 3]) {
  console.log(i + x);
}

})()
// shape: body
