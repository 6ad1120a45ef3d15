// Generated from enums_const.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  state: "open" | "closed" | "all";
  mixed?: "a" | 1 | -2.5 | true | null | unknown[] | Record<string, unknown>;
  escapes?: "quote\"" | "back\\slash" | "new\nline" | "tab\t" | "unicode é ✓" | "*/";
  nullable_enum?: "x" | "y" | null;
  enum_with_null?: "x" | null;
  const_string?: "fixed";
  const_number?: 3;
  const_object?: Record<string, unknown>;
  empty_enum?: never;
  big_numbers?: 0 | 1e+30 | 18446744073709551615 | -9007199254740993;
};

export type Compact = { state: "open" | "closed" | "all"; mixed?: "a" | 1 | -2.5 | true | null | unknown[] | Record<string, unknown>; escapes?: "quote\"" | "back\\slash" | "new\nline" | "tab\t" | "unicode é ✓" | "*/"; nullable_enum?: "x" | "y" | null; enum_with_null?: "x" | null; const_string?: "fixed"; const_number?: 3; const_object?: Record<string, unknown>; empty_enum?: never; big_numbers?: 0 | 1e+30 | 18446744073709551615 | -9007199254740993 };
