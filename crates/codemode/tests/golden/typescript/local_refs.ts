// Generated from local_refs.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  /** A tree node. */
  root: {
    value: string;
    children?: Array<unknown /* circular: Node */>;
  };
  /** Sibling description wins. */
  label?: string;
  /** Documented at the definition. */
  color?: "red" | "green";
  escaped?: number;
  missing?: unknown /* unresolved: #/$defs/Nope */;
  remote?: unknown /* unresolved: https://example.com/other.json */;
  /** Sibling description wins. */
  pointer?: string;
  extended?: {
    id: number;
    extra?: string;
  };
  mutual?: {
    next?: {
      next?: unknown /* circular: Even */;
    };
  };
};

export type Compact = { root: { value: string; children?: Array<unknown /* circular: Node */> }; label?: string; color?: "red" | "green"; escaped?: number; missing?: unknown /* unresolved: #/$defs/Nope */; remote?: unknown /* unresolved: https://example.com/other.json */; pointer?: string; extended?: { id: number; extra?: string }; mutual?: { next?: { next?: unknown /* circular: Even */ } } };
