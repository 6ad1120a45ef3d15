// A note keeper: the workspace (a filesystem in the agent's database) and schedules.
//
//   curl -H "Authorization: Bearer $TOKEN" -d '["todo.md", "- water plants"]' \
//        http://127.0.0.1:8787/agents/Notes/alice/add
//   curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8787/agents/Notes/alice/workspace/notes/todo.md
import { Agent, HttpError } from "agents";

export default class Notes extends Agent {
  async add(file: string, line: string) {
    await this.workspace.append(`/notes/${file}`, line.endsWith("\n") ? line : line + "\n");
    return this.workspace.stat(`/notes/${file}`);
  }

  /** The text of one note file. */
  async read(file: string): Promise<string> {
    if (!(await this.workspace.exists(`/notes/${file}`))) {
      // The caller's mistake, not the agent's: HTTP 404 with this message, not a 500.
      throw new HttpError(404, `there is no note file ${file}; list them with list()`);
    }
    return this.workspace.read(`/notes/${file}`);
  }

  async list() {
    return this.workspace.glob("/notes/**");
  }

  async search(pattern: string) {
    return this.workspace.grep(pattern, { path: "/notes" });
  }

  // Runs `remind` once, `seconds` from now; the schedule survives restarts.
  async remindIn(seconds: number, text: string) {
    return this.schedule(seconds, "remind", { text });
  }

  // Private: schedules may call it, clients (HTTP, /mcp, other agents) may not.
  private async remind(payload: { text: string }) {
    await this.workspace.append("/notes/reminders.md", `- ${payload.text}\n`);
  }

  async reminders() {
    return this.getSchedules();
  }
}
