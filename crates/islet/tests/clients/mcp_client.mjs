// Drives an islet Code Mode MCP server with the official TypeScript MCP SDK and prints one
// JSON object describing what it saw (the same shape as mcp_client.py), for
// crates/islet/tests/it/mcp.rs to assert on.
//
// Usage:
//   node mcp_client.mjs stdio ISLET_BIN ARG...   spawn the server and talk over stdio
//   node mcp_client.mjs http URL [TOKEN]         connect over streamable HTTP

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const SEARCH = { query: "get a repository", limit: 3 };
const EXECUTE = {
  code: `async () => {
  const repo = await api.repos.get({ owner: "octo", repo: "hello" });
  const issues = await api.issues.listForRepo({ owner: "octo", repo: "hello" });
  console.log("issues:", issues.length);
  return { name: repo.full_name, open: issues.filter(i => i.state === "open").length, auth: repo.echo_auth };
}`,
};
const MISSPELLED = { code: "async () => await api.repos.gett({ owner: 'octo', repo: 'hello' })" };
const SPEC_SEARCH = {
  code: "async () => Object.keys(spec.paths).filter(p => p.startsWith('/repos/{owner}/{repo}')).length",
};

const textOf = (result) =>
  result.content.filter((block) => block.type === "text").map((block) => block.text).join("");
const summary = (result) => ({ text: textOf(result), is_error: Boolean(result.isError) });

async function exercise(transport) {
  const client = new Client({ name: "islet-test", version: "0.0.0" });
  await client.connect(transport);
  try {
    const tools = await client.listTools();
    const call = (name, args) => client.callTool({ name, arguments: args });
    return {
      tools: tools.tools.map((t) => t.name),
      search: summary(await call("search", SEARCH)),
      execute: summary(await call("execute", EXECUTE)),
      misspelled: summary(await call("execute", MISSPELLED)),
      spec_search: summary(await call("search", SPEC_SEARCH)),
    };
  } finally {
    await client.close();
  }
}

const [mode, ...rest] = process.argv.slice(2);
let transport;
if (mode === "stdio") {
  const [command, ...args] = rest;
  // The server reads its API token from the environment (--bearer-env); the SDK would pass
  // only a few safe variables.
  transport = new StdioClientTransport({ command, args, env: { ...process.env }, stderr: "inherit" });
} else if (mode === "http") {
  const [url, token] = rest;
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
} else {
  throw new Error(`unknown mode ${mode}`);
}
const report = await exercise(transport);
process.stdout.write(JSON.stringify(report) + "\n");
