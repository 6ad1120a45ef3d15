// A counter: state, storage, SQL and live updates in a few lines.
//
//   curl -H "Authorization: Bearer $TOKEN" -d '[5]' http://127.0.0.1:8787/agents/Counter/alice/increment
//   curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8787/agents/Counter/alice/state
import { Agent } from "agents";

interface CounterState {
  count: number;
  updatedAt: string | null;
}

export default class Counter extends Agent {
  // In-memory only: lives while the agent is active, gone after it hibernates.
  callsSinceWakeUp = 0;

  async onStart() {
    await this.sql`CREATE TABLE IF NOT EXISTS history (at TEXT NOT NULL, delta INTEGER NOT NULL)`;
  }

  async increment(by: number = 1): Promise<number> {
    if (typeof by !== "number" || !Number.isFinite(by)) {
      throw new TypeError("increment(by): by must be a number");
    }
    this.callsSinceWakeUp++;
    const count = ((this.state as CounterState | null)?.count ?? 0) + by;
    const at = new Date().toISOString();
    await this.sql`INSERT INTO history (at, delta) VALUES (${at}, ${by})`;
    await this.setState({ count, updatedAt: at });
    return count;
  }

  async get(): Promise<number> {
    return (this.state as CounterState | null)?.count ?? 0;
  }

  async history(limit: number = 10) {
    return this.sql`SELECT at, delta FROM history ORDER BY rowid DESC LIMIT ${limit}`;
  }

  async stats() {
    return { callsSinceWakeUp: this.callsSinceWakeUp };
  }

  // Plain HTTP: /agents/Counter/<name>/request
  async onRequest(request: Request): Promise<Response> {
    return Response.json({ name: this.name, count: await this.get(), method: request.method });
  }
}
