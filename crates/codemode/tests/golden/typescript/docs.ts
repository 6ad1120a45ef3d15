// Generated from docs.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  /**
   * Only show results updated after this time.
   *
   * This is a timestamp in ISO 8601 format: `YYYY-MM-DDTHH:MM:SSZ`.
   * @format date-time
   * @example "2011-10-05T14:48:00Z"
   */
  since?: string;
  /**
   * Results per page (max 100).
   * @default 30
   */
  per_page?: number;
  /**
   * Use `modern` instead.
   * @deprecated
   */
  legacy?: boolean;
  /**
   * Closes a comment *\/ then /* opens one
   * with CRLF lines
   */
  tricky?: string;
  /** Only a title */
  titled?: string;
  /** @example ["a","b"] */
  examples_2020?: string[];
  /** @default {"a":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa… */
  long_default?: Record<string, unknown>;
  /** A nested object. */
  nested?: {
    /**
     * Documented at depth 2.
     * @format uri
     */
    inner?: string;
  };
};

export type Compact = { since?: string; per_page?: number; legacy?: boolean; tricky?: string; titled?: string; examples_2020?: string[]; long_default?: Record<string, unknown>; nested?: { inner?: string } };
