// A reviewer: the child agent `ResearchLead`'s `review` tool asks to check a draft.
import { Think } from "agents";

export default class Reviewer extends Think {
  maxSteps = 4;

  getSystemPrompt() {
    return "You review drafts. Answer with the factual problems you see, or `No problems.`";
  }
}
