(async () => {var $default = { answer: await codemode.answer(), ok: true };

;return $default;})()
// shape: export_default
