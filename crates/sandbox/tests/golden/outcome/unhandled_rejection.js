Promise.reject(new TypeError("nobody listens"));
return "done";
