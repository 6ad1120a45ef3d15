throw "boom";
