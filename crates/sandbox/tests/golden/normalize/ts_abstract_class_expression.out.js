(async () => {const Mixin =                                       (Base   ) =>
  class extends Base                   {
    ;      tag         = "t";
  };
var $default = Mixin(class {});

;return $default;})()
// shape: export_default
