// Generated from circular.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  id: number;
  parent?: unknown /* circular: repository */;
  children?: Array<unknown /* circular: repository */>;
  maybe?: unknown /* circular: node*\/ */ | null;
  other?: unknown /* circular: #/paths/~1repos/get */;
  /** Cut for size. */
  truncated?: unknown /* truncated: simple-user */ | null;
};

export type Compact = { id: number; parent?: unknown /* circular: repository */; children?: Array<unknown /* circular: repository */>; maybe?: unknown /* circular: node*\/ */ | null; other?: unknown /* circular: #/paths/~1repos/get */; truncated?: unknown /* truncated: simple-user */ | null };
