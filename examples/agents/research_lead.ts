// A chat agent that leads a small research team (Project Think's delegation and
// self-written tools). Start the server with a model and ask it something:
//
//   OPENAI_API_KEY=… islet serve --model openai:gpt-4.1-mini
//   curl -N -H "Authorization: Bearer $(cat .islet/token)" \
//     -d '{"messages":[{"role":"user","parts":[{"type":"text","text":"What is QuickJS? Keep a report."}]}]}' \
//     http://127.0.0.1:8787/agents/ResearchLead/me/chat
//
// `research` and `review` hand a task to a child chat agent (a sub-agent of this one, with
// its own database, workspace and session): the child's progress streams to this chat as
// `data-subagent` events and its last answer is the tool's result. With
// `allowExtensions`, the model may also write itself a tool (`load_extension`); it is
// offered from the next turn, under the permissions its manifest declares.
import { Think, agentTool } from "agents";

export default class ResearchLead extends Think {
  maxSteps = 12;
  allowExtensions = true;

  getSystemPrompt() {
    return [
      "You lead a research team. Hand research to `research` and ask `review` to check a",
      "draft before you answer. Keep the final report in /report.md of your workspace.",
      "When you need the same computation again and again, write yourself a tool with",
      "`load_extension` (workspace: \"read\" is enough for reading the report).",
    ].join("\n");
  }

  getTools() {
    return {
      research: agentTool("Researcher", {
        description: "Hand a research task to a researcher, who answers with its findings.",
        inputSchema: {
          type: "object",
          properties: { task: { type: "string", description: "what to find out, with all context" } },
          required: ["task"],
        },
      }),
      review: agentTool("Reviewer", {
        description: "Ask a reviewer to check a draft; it answers with the problems it sees.",
      }),
    };
  }

  /** The report, as the team left it. */
  async report(): Promise<string | null> {
    return (await this.workspace.exists("/report.md")) ? this.workspace.read("/report.md") : null;
  }
}
