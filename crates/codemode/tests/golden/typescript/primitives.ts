// Generated from primitives.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  s: string;
  n: number;
  i?: number;
  b?: boolean;
  nothing?: null;
  anything?: unknown;
  yes?: unknown;
  no?: never;
  bad_type?: unknown;
  empty_object?: Record<string, unknown>;
  closed_empty?: Record<string, never>;
  untyped_array?: unknown[];
};

export type Compact = { s: string; n: number; i?: number; b?: boolean; nothing?: null; anything?: unknown; yes?: unknown; no?: never; bad_type?: unknown; empty_object?: Record<string, unknown>; closed_empty?: Record<string, never>; untyped_array?: unknown[] };
