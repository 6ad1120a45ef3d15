(async () => {const twice = (x        ) => x * 2;
var $default = async () => twice(await codemode.n());

;return $default();})()
// shape: export_default
