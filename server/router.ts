// Resolves a parsed target against the registry (DESIGN.md section 4): which known
// agents a job goes to. `_any` picks one online agent, least busy then round-robin.
// Stale agents (offline longer than the stale age) are matched only by hostname.
import { invalidArgument } from "../common/status-error.js";
import type { AgentDirectory, AgentRecord } from "./registry.js";
import { labelsMatch, parseTarget, type Target } from "./target.js";

function byHostname(a: AgentRecord, b: AgentRecord): number {
  return a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0;
}

export class Router {
  private anyTurn = 0;

  constructor(private readonly registry: AgentDirectory) {}

  /** Parses and resolves `text`; throws INVALID_ARGUMENT for bad syntax or no match. */
  resolveText(text: string): AgentRecord[] {
    return this.resolve(parseTarget(text), text);
  }

  /**
   * The agents `target` matches, sorted by hostname (one for `_any`). Offline agents
   * are included (except for `_any`): the job reports them. `text` is the target as
   * the caller wrote it, for error messages.
   */
  resolve(target: Target, text: string): AgentRecord[] {
    switch (target.kind) {
      case "hostname": {
        const record = this.registry.get(target.hostname);
        if (!record) throw invalidArgument(`target agent "${target.hostname}" not found`, "no agent with this hostname is connected or was seen recently");
        return [record];
      }
      case "any":
        return [this.pickAny()];
      case "all": {
        const all = this.matching(target);
        if (all.length === 0) throw invalidArgument(`no agent matches target "${text}"`, "no agent is connected or was seen recently");
        return all;
      }
      case "selectors": {
        const matched = this.matching(target);
        if (matched.length === 0) {
          throw invalidArgument(`no agent matches target "${text}"`, "no agent connected or seen recently has labels matching every selector");
        }
        return matched;
      }
    }
  }

  /**
   * Every known agent `target` could reach, sorted by hostname, without choosing or
   * refusing: a hostname matches its agent (stale or not), `_any` every online agent,
   * `_all` and selectors every agent that is not stale. Empty when none.
   */
  matching(target: Target): AgentRecord[] {
    const matched: AgentRecord[] = [];
    switch (target.kind) {
      case "hostname": {
        const record = this.registry.get(target.hostname);
        if (record) matched.push(record);
        return matched;
      }
      case "any":
        for (const record of this.registry.records()) if (record.state === "online" && record.link) matched.push(record);
        break;
      case "all":
        for (const record of this.registry.records()) if (!this.registry.isStale(record)) matched.push(record);
        break;
      case "selectors":
        for (const record of this.registry.records()) {
          if (labelsMatch(record.labels, target.selectors) && !this.registry.isStale(record)) matched.push(record);
        }
        break;
    }
    return matched.sort(byHostname);
  }

  private pickAny(): AgentRecord {
    let least = Number.POSITIVE_INFINITY;
    let candidates: AgentRecord[] = [];
    for (const record of this.registry.records()) {
      if (record.state !== "online" || !record.link) continue;
      const busy = record.link.inFlight;
      if (busy < least) {
        least = busy;
        candidates = [record];
      } else if (busy === least) {
        candidates.push(record);
      }
    }
    if (candidates.length === 0) throw invalidArgument(`no agent online for target "_any"`, "_any needs at least one connected agent");
    candidates.sort(byHostname);
    const chosen = candidates[this.anyTurn % candidates.length]!;
    this.anyTurn = (this.anyTurn + 1) % Number.MAX_SAFE_INTEGER;
    return chosen;
  }
}
