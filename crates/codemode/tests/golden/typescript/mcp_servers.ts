// Generated from mcp_servers.catalog.json by tests/it/typescript.rs (BLESS=1 rewrites).
// Two MCP servers
declare const github: {
  /** Create an issue. */
  create_issue(input: { owner: string; repo: string; title: string; labels?: string[] }): Promise<unknown>;
};
declare const slack: {
  /** Send a message to a channel. */
  post_message(input: { channel: string; text: string }): Promise<{ ts?: string }>;
};
/** A global tool. */
declare function ping(input?: Record<string, unknown>): Promise<unknown>;
// skipped: delete is not a valid global function name

// Signatures (search results):
// /** Create an issue. */
// github.create_issue(input: { owner: string; repo: string; title: string; labels?: string[] }): Promise<unknown>
// /** Send a message to a channel. */
// slack.post_message(input: { channel: string; text: string }): Promise<{ ts?: string }>
// /** A global tool. */
// ping(input?: Record<string, unknown>): Promise<unknown>
// /** A global tool with a reserved name. */
// delete(input?: Record<string, unknown>): Promise<unknown>

// Usage (type-checked, never run):
async function usage() {
  await github.create_issue({ owner: "o", repo: "r", title: "t" });
  const { ts } = await slack.post_message({ channel: "C1", text: "hi" });
  await ping();
}
export { usage };
