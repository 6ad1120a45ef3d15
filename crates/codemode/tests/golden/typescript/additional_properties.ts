// Generated from additional_properties.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  open_map?: Record<string, unknown>;
  string_map?: Record<string, string>;
  object_map?: Record<string, {
    count?: number;
  }>;
  closed?: {
    a?: string;
  };
  props_and_open?: {
    a?: string;
    [key: string]: unknown;
  };
  props_and_typed?: {
    name: string;
    size?: number;
    [key: string]: boolean | string | number | undefined;
  };
  props_and_complex?: {
    meta?: {
      x?: string;
      y?: string;
    };
    [key: string]: unknown;
  };
  patterned?: Record<string, string | number>;
};

export type Compact = { open_map?: Record<string, unknown>; string_map?: Record<string, string>; object_map?: Record<string, { count?: number }>; closed?: { a?: string }; props_and_open?: { a?: string; [key: string]: unknown }; props_and_typed?: { name: string; size?: number; [key: string]: boolean | string | number | undefined }; props_and_complex?: { meta?: { x?: string; y?: string }; [key: string]: number | { x?: string; y?: string } | undefined }; patterned?: Record<string, string | number> };
