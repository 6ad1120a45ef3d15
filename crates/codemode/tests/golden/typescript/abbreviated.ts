// Generated from abbreviated.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  id: number;
  name?: string;
  full_name?: string;
  private?: boolean;
  owner: {
    login: string;
    id?: number;
    /** @format uri */
    avatar_url?: string;
    site_admin?: boolean;
    plan?: {
      name?: string;
      space?: number;
    };
  };
  license?: {
    key?: string;
    name?: string;
  } | null;
  topics?: string[];
  visibility?: "public" | "private" | "internal" | "a" | "b" | "c";
  permissions?: {
    admin?: boolean;
  };
};

export type Compact = { id: number; name?: string; full_name?: string; private?: boolean; owner: { login: string; id?: number; avatar_url?: string; site_admin?: boolean; plan?: { name?: string; space?: number } }; license?: { key?: string; name?: string } | null; topics?: string[]; visibility?: "public" | "private" | "internal" | "a" | "b" | "c"; permissions?: { admin?: boolean } };

export type Custom = { id: number; name?: string; full_name?: string; owner: object /* login, id, avatar_url, site_admin, +1 more */; /* 5 more properties */ };
