// Generated from budget.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  /** Field number 0. */
  field_0?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 1. */
  field_1?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 2. */
  field_2?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 3. */
  field_3: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 4. */
  field_4?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 5. */
  field_5?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 6. */
  field_6?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 7. */
  field_7?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 8. */
  field_8?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 9. */
  field_9?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 10. */
  field_10?: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
  /** Field number 11. */
  field_11: {
    a?: string;
    b?: {
      c?: number;
      d?: "v0" | "v1" | "v2" | "v3" | "v4" | "v5" | "v6" | "v7" | "v8" | "v9" | "v10" | "v11" | "v12" | "v13" | "v14" | "v15" | "v16" | "v17" | "v18" | "v19" | "v20" | "v21" | "v22" | "v23" | "v24" | "v25" | "v26" | "v27" | "v28" | "v29";
    }[];
  };
};

export type Compact = { field_0?: { a?: string; b?: Array<object /* c, d */> }; field_1?: { a?: string; b?: Array<object /* c, d */> }; field_2?: { a?: string; b?: Array<object /* c, d */> }; field_3: { a?: string; b?: Array<object /* c, d */> }; field_4?: { a?: string; b?: Array<object /* c, d */> }; field_5?: { a?: string; b?: Array<object /* c, d */> }; field_6?: { a?: string; b?: Array<object /* c, d */> }; field_7?: { a?: string; b?: Array<object /* c, d */> }; field_8?: { a?: string; b?: Array<object /* c, d */> }; field_9?: { a?: string; b?: Array<object /* c, d */> }; field_10?: { a?: string; b?: Array<object /* c, d */> }; field_11: { a?: string; b?: Array<object /* c, d */> } };

export type Custom = {
  /** Field number 0. */
  field_0?: object /* a, b */;
  /** Field number 1. */
  field_1?: object /* a, b */;
  /** Field number 2. */
  field_2?: object /* a, b */;
  /** Field number 3. */
  field_3: object /* a, b */;
  /** Field number 4. */
  field_4?: object /* a, b */;
  /** Field number 5. */
  field_5?: object /* a, b */;
  /** Field number 6. */
  field_6?: object /* a, b */;
  /** Field number 7. */
  field_7?: object /* a, b */;
  /** Field number 8. */
  field_8?: object /* a, b */;
  /** Field number 9. */
  field_9?: object /* a, b */;
  /** Field number 10. */
  field_10?: object /* a, b */;
  /** Field number 11. */
  field_11: object /* a, b */;
};
