// A researcher: the child agent `ResearchLead`'s `research` tool hands tasks to. It works in
// a session and workspace of its own (as `ResearchLead/<name>/sub/Researcher/research`) and
// keeps its notes there:
//
//   curl -X POST -H "Authorization: Bearer $(cat .islet/token)" \
//     http://127.0.0.1:8787/agents/ResearchLead/me/sub/Researcher/research/notes
import { Think } from "agents";

export default class Researcher extends Think {
  maxSteps = 8;

  getSystemPrompt() {
    return [
      "You research one task at a time. Keep what you find in /notes.md of your workspace,",
      "then answer with the findings only, in a few sentences.",
    ].join("\n");
  }

  /** The researcher's notes, kept across tasks. */
  async notes(): Promise<string | null> {
    return (await this.workspace.exists("/notes.md")) ? this.workspace.read("/notes.md") : null;
  }
}
