// Generated from combinators.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  one_of?: string | number;
  any_of_objects?: {
    kind: "a";
    a?: string;
  } | {
    kind: "b";
    b?: number;
  };
  all_of_merged?: {
    id: number;
    name: string;
    extra?: boolean;
  };
  all_of_conflict?: {
    v?: string & ("x" | "y");
  };
  base_plus_all_of?: {
    base: string;
    more?: number;
  };
  all_of_not_mergeable?: {
    id?: number;
  } & ({
    a?: string;
  } | {
    b?: string;
  });
  all_of_scalar?: string;
  object_with_one_of?: {
    common?: string;
  };
  union_dedup?: string | null;
  union_with_unknown?: unknown;
  union_with_never?: string;
  array_of_union?: Array<string | number>;
};

export type Compact = { one_of?: string | number; any_of_objects?: { kind: "a"; a?: string } | { kind: "b"; b?: number }; all_of_merged?: { id: number; name: string; extra?: boolean }; all_of_conflict?: { v?: string & ("x" | "y") }; base_plus_all_of?: { base: string; more?: number }; all_of_not_mergeable?: { id?: number } & ({ a?: string } | { b?: string }); all_of_scalar?: string; object_with_one_of?: { common?: string }; union_dedup?: string | null; union_with_unknown?: unknown; union_with_never?: string; array_of_union?: Array<string | number> };
