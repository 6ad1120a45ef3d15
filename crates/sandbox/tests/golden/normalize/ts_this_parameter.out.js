(async () => {function greet(                        greeting        ) {
  return `${greeting}, ${this.name}`;
}
function only(            ) {
  return 1;
}
return (greet.call({ name: "a" }, "hi"))

})()
// shape: body
