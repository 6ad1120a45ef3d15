const x = 1;
return x + notDefined;
