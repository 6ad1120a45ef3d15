// Durable agents. agents.<Class>("name") is the agent of that class and name (created on
// first use); each method call is one transaction of that agent. Arguments and results
// are data (what structuredClone accepts: no functions, symbols or cycles).
declare namespace Agents {
  interface Researcher {
    /**
     * Everything summarised so far.
     * Newest first.
     */
    history(limit?: number): Promise<unknown>;
    /** Summarises the page at `url`. */
    summarise(input: { url: string; maxWords?: number }): Promise<Summary>;
    /** A sub-agent of this agent (its parent creates it: this.subAgent(Class, name)). */
    subAgent<C extends keyof $Classes>(className: C, name: string): $Classes[C];
  }
  interface Vault {
    later(): Promise<unknown>;
    peek(key: unknown, fallback?: string): Promise<unknown>;
    /**
     * Stores a secret under a key.
     * @param key where to keep it
     */
    put(key: string, value: { secret: string; tags?: string[] }, ...notes: string[]): Promise<number>;
    /** A sub-agent of this agent (its parent creates it: this.subAgent(Class, name)). */
    subAgent<C extends keyof $Classes>(className: C, name: string): $Classes[C];
  }
  interface $Classes {
    Researcher: Researcher;
    Vault: Vault;
  }
}
declare const agents: { [C in keyof Agents.$Classes]: (name: string) => Agents.$Classes[C] };
