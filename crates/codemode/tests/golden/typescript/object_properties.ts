// Generated from object_properties.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  owner: string;
  repo: string;
  delete: boolean;
  "x-rate-limit": number;
  "200": string;
  "with space"?: string;
  "quote\"d"?: string;
  "émoji"?: string;
  $dollar_ok?: string;
  _under?: string;
  nested?: {
    id: number;
    deeper?: {
      leaf?: string;
    };
  };
};

export type Compact = { owner: string; repo: string; delete: boolean; "x-rate-limit": number; "200": string; "with space"?: string; "quote\"d"?: string; "émoji"?: string; $dollar_ok?: string; _under?: string; nested?: { id: number; deeper?: { leaf?: string } } };
