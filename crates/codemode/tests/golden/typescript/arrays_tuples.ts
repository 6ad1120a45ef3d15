// Generated from arrays_tuples.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).
export type Full = {
  strings?: string[];
  matrix?: number[][];
  objects?: {
    id?: number;
  }[];
  nullable_items?: Array<string | null>;
  tuple_2020_closed?: [number, number];
  tuple_2020_rest?: [string, ...number[]];
  tuple_2020_open?: [string, boolean?, ...unknown[]];
  tuple_draft07_additional?: [string, number, ...boolean[]];
  tuple_draft07_closed?: [string?, (number | null)?];
  tuple_max_items?: [string];
  empty_only?: [];
  array_or_string?: number[] | string;
};

export type Compact = { strings?: string[]; matrix?: number[][]; objects?: { id?: number }[]; nullable_items?: Array<string | null>; tuple_2020_closed?: [number, number]; tuple_2020_rest?: [string, ...number[]]; tuple_2020_open?: [string, boolean?, ...unknown[]]; tuple_draft07_additional?: [string, number, ...boolean[]]; tuple_draft07_closed?: [string?, (number | null)?]; tuple_max_items?: [string]; empty_only?: []; array_or_string?: number[] | string };
