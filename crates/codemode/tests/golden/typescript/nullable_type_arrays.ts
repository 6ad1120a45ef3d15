// Generated from nullable_type_arrays.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  type_array?: string | null;
  type_array_multi?: string | number | boolean;
  object_or_null?: {
    id?: number;
  } | null;
  openapi30_nullable?: string | null;
  nullable_object?: {
    login?: string;
  } | null;
  nullable_all_of?: {
    x?: string;
  } | null;
  swagger_x_nullable?: number | null;
  any_of_null_31?: null | string[];
  nullable_false?: string;
};

export type Compact = { type_array?: string | null; type_array_multi?: string | number | boolean; object_or_null?: { id?: number } | null; openapi30_nullable?: string | null; nullable_object?: { login?: string } | null; nullable_all_of?: { x?: string } | null; swagger_x_nullable?: number | null; any_of_null_31?: null | string[]; nullable_false?: string };
