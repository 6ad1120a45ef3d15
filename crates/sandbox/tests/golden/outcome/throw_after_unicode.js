const s = "héllo wörld"; throw new Error("after unicode: " + s.length);
