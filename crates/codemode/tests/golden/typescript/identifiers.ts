// Generated from identifiers.catalog.json by tests/it/typescript.rs (BLESS=1 rewrites).
// Awkward API */ with a comment closer
declare namespace $defs {
  type Node = {
    name: string;
    children?: $defs.Node[];
  };
  type Node_2 = string | {
    and?: $defs.Node_2[];
  };
  type my_type = {
    self?: $defs.my_type;
  };
  type _1st = {
    self?: $defs._1st;
  };
  type delete_ = {
    self?: $defs.delete_;
  };
  type string_ = {
    self?: $defs.string_;
  };
  type Promise_ = {
    self?: $defs.Promise_;
  };
  type selfRef_input = {
    next?: $defs.selfRef_input;
  };
}
declare const api: {
  // `request` is a tool here, so the raw request helper is not declared
  /**
   * A tool named request: the raw helper steps aside.
   * @http GET /request
   */
  request(input?: Record<string, unknown>): Promise<unknown>;
  repos: {
    /**
     * Get a repository
     *
     * The `parent` and `source` objects are present when the repository is a fork.
     * @http GET /repos/{owner}/{repo}
     */
    get(input: {
      /** The account owner. */
      owner: string;
      repo: string;
    }): Promise<{
      id: number;
      full_name?: string;
      parent?: unknown /* circular: full-repository */;
    }>;
    /**
     * Delete a repository
     * @http DELETE /repos/{owner}/{repo}
     */
    delete(input: {
      owner: string;
      repo: string;
    }): Promise<unknown>;
    /**
     * Reserved word new
     * @http POST /repos
     */
    "new"(input?: Record<string, unknown>): Promise<unknown>;
    /** @http POST /fn */
    function(input?: Record<string, unknown>): Promise<unknown>;
    /**
     * Reserved word class
     * @http GET /class
     */
    class(input?: Record<string, unknown>): Promise<unknown>;
    /**
     * Object.prototype name
     * @http GET /ctor
     */
    constructor(input?: Record<string, unknown>): Promise<unknown>;
    /**
     * Not an identifier
     * @http GET /weird
     */
    "x-weird"(input?: Record<string, unknown>): Promise<unknown>;
  };
  issues: {
    /**
     * Both a tool and a namespace
     * @http GET /issues
     */
    (input?: {
      filter?: string;
    }): Promise<unknown>;
    /**
     * List repository issues
     * @http GET /repos/{owner}/{repo}/issues
     */
    listForRepo(input: {
      owner: string;
      /** @default "open" */
      state?: "open" | "closed" | "all";
    }): Promise<unknown>;
  };
  default: {
    in: {
      /**
       * Reserved words as namespace segments
       * @http GET /deep
       */
      typeof(input?: Record<string, unknown>): Promise<unknown>;
    };
  };
};
declare const files: {
  /** Recursive tree via $defs (shared with `find`, so one alias). */
  walk(input: {
    root: $defs.Node;
  }): Promise<$defs.Node>;
  /** Same Node definition: reuses the alias. */
  find(input: {
    root: $defs.Node;
  }): Promise<unknown>;
  /** A different Node: gets Node_2. Sanitised names for awkward definition keys. */
  grep(input: {
    filter: $defs.Node_2;
    a?: $defs.my_type;
    b?: $defs._1st;
    c?: $defs.delete_;
    d?: $defs.string_;
    e?: $defs.Promise_;
  }): Promise<unknown>;
  /** The root refers to itself. */
  selfRef(input?: {
    next?: $defs.selfRef_input;
  }): Promise<unknown>;
};

// Signatures (search results):
// /** Get a repository (GET /repos/{owner}/{repo}) */
// api.repos.get(input: { owner: string; repo: string }): Promise<{ id: number; full_name?: string; parent?: unknown /* circular: full-repository */ }>
// /** Delete a repository (DELETE /repos/{owner}/{repo}) */
// api.repos.delete(input: { owner: string; repo: string }): Promise<unknown>
// /** Reserved word new (POST /repos) */
// api.repos.new(input?: Record<string, unknown>): Promise<unknown>
// /** POST /fn */
// api.repos.function(input?: Record<string, unknown>): Promise<unknown>
// /** Reserved word class (GET /class) */
// api.repos.class(input?: Record<string, unknown>): Promise<unknown>
// /** Object.prototype name (GET /ctor) */
// api.repos.constructor(input?: Record<string, unknown>): Promise<unknown>
// /** Not an identifier (GET /weird) */
// api.repos["x-weird"](input?: Record<string, unknown>): Promise<unknown>
// /** Both a tool and a namespace (GET /issues) */
// api.issues(input?: { filter?: string }): Promise<unknown>
// /** List repository issues (GET /repos/{owner}/{repo}/issues) */
// api.issues.listForRepo(input: { owner: string; state?: "open" | "closed" | "all" }): Promise<unknown>
// /** Reserved words as namespace segments (GET /deep) */
// api.default.in.typeof(input?: Record<string, unknown>): Promise<unknown>
// /** Recursive tree via $defs (shared with `find`, so one alias). */
// files.walk(input: { root: { name: string; children?: Array<unknown /* circular: Node */> } }): Promise<{ name: string; children?: Array<unknown /* circular: Node */> }>
// /** Same Node definition: reuses the alias. */
// files.find(input: { root: { name: string; children?: Array<unknown /* circular: Node */> } }): Promise<unknown>
// /** A different Node: gets Node_2. Sanitised names for awkward definition keys. */
// files.grep(input: { filter: string | { and?: Array<unknown /* circular: Node */> }; a?: { self?: unknown /* circular: my-type */ }; b?: { self?: unknown /* circular: 1st */ }; c?: { self?: unknown /* circular: delete */ }; d?: { self?: unknown /* circular: string */ }; e?: { self?: unknown /* circular: Promise */ } }): Promise<unknown>
// /** The root refers to itself. */
// files.selfRef(input?: { next?: { next?: unknown /* circular: # */ } }): Promise<unknown>
// /** A tool named request: the raw helper steps aside. (GET /request) */
// api.request(input?: Record<string, unknown>): Promise<unknown>

// Usage (type-checked, never run):
async function usage() {
  const repo = await api.repos.get({ owner: "octo", repo: "hello" });
  const id: number = repo.id;
  await api.repos.delete({ owner: "octo", repo: "hello" });
  await api.repos.new();
  await api.repos.function({});
  await api.repos.class();
  await api.repos["x-weird"]();
  await api.issues({ filter: "all" });
  await api.issues.listForRepo({ owner: "octo", state: "closed" });
  await api.default.in.typeof();
  const tree = await files.walk({ root: { name: "/", children: [{ name: "a" }] } });
  const names: string[] = (tree.children ?? []).map((c) => c.name);
  await files.grep({ filter: { and: ["x", { and: [] }] } });
  await files.selfRef({ next: { next: {} } });
  await api.request();
}
export { usage };
