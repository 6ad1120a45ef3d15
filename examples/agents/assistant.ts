// A ready chat agent. Start the server with a model and talk to it:
//
//   OPENAI_API_KEY=… islet serve --model openai:gpt-4.1-mini
//   curl -N -H "Authorization: Bearer $(cat .islet/token)" \
//     -d '{"messages":[{"role":"user","parts":[{"type":"text","text":"Make a todo list in todo.md"}]}]}' \
//     http://127.0.0.1:8787/agents/Assistant/me/chat
//
// The model gets Code Mode's `execute` (its code can call `workspace.*` and every agent's
// callable methods as `agents.Class("name").method()`), direct workspace tools (read,
// write, edit, list, delete, find, grep), `session_search`, and the tools below.
import { Think } from "agents";

export default class Assistant extends Think {
  // Inferences per turn; the loop stops there even if the model keeps calling tools.
  maxSteps = 10;

  getSystemPrompt() {
    return [
      `You are ${this.name}'s assistant. You keep notes and files in your workspace.`,
      "Prefer one `execute` program over many small tool calls when a task has several steps.",
      "Answer briefly, and say which files you changed.",
    ].join("\n");
  }

  getTools() {
    return {
      now: {
        description: "The current date and time (ISO 8601, UTC).",
        inputSchema: { type: "object", properties: {} },
        execute: async () => new Date().toISOString(),
      },
    };
  }

  // A hook (see README, "Chat agents"): runs before each tool call; the model reads the
  // reason of a blocked call as the call's error.
  beforeToolCall(call: { toolName: string; input: { path?: string; recursive?: boolean } }) {
    if (call.toolName === "delete" && call.input.path === "/" && call.input.recursive) {
      return { block: "deleting the whole workspace is not allowed; delete files one by one" };
    }
  }

  /** The files in this assistant's workspace. */
  async files(): Promise<string[]> {
    return (await this.workspace.list("/")).map((e: { path: string }) => e.path);
  }
}
