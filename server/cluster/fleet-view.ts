// The whole cluster's agents as one AgentDirectory: this replica's registry (its
// online agents, and agents known from the store as offline) merged with the agents
// every live peer reports in its presence. A hostname online at several replicas
// (it just moved) is the newest stream's. While NATS is out of reach the view
// cannot answer for the fleet: reads throw UNAVAILABLE.
import type { StatusError } from "../../common/status-error.js";
import { agentView, type AgentDirectory, type AgentRecord, type AgentRegistry, type AgentView } from "../registry.js";

export interface RemoteAgents {
  /** Online agents of live peers, per peer: hostname → record (with `replica` and a remote link). */
  peers(): Iterable<ReadonlyMap<string, AgentRecord>>;
}

export class FleetView implements AgentDirectory {
  constructor(
    private readonly local: AgentRegistry,
    private readonly remote: RemoteAgents,
    /** This replica's id, shown for its own online agents. */
    private readonly replicaId: () => string,
    /** Why the view cannot answer now, or undefined. */
    private readonly unavailable: () => StatusError | undefined,
  ) {}

  get(hostname: string): AgentRecord | undefined {
    this.check();
    return this.pick(hostname.toLowerCase(), this.local.get(hostname));
  }

  *records(): IterableIterator<AgentRecord> {
    this.check();
    const seen = new Set<string>();
    for (const record of this.local.records()) {
      seen.add(record.hostname);
      yield this.pick(record.hostname, record)!;
    }
    for (const agents of this.remote.peers()) {
      for (const hostname of agents.keys()) {
        if (seen.has(hostname)) continue;
        seen.add(hostname);
        yield this.pick(hostname, undefined)!;
      }
    }
  }

  isStale(record: AgentRecord): boolean {
    return this.local.isStale(record);
  }

  view(agent: string | AgentRecord): AgentView | undefined {
    const record = typeof agent === "string" ? this.get(agent) : agent;
    if (!record) return undefined;
    const view = agentView(record, this.isStale(record));
    if (record.state === "online" && record.replica === undefined) view.replica = this.replicaId();
    return view;
  }

  forget(hostname: string): boolean {
    return this.local.forget(hostname);
  }

  private check(): void {
    const error = this.unavailable();
    if (error) throw error;
  }

  /** The record that speaks for `hostname`: the newest online stream anywhere, else the local (offline) one. */
  private pick(hostname: string, local: AgentRecord | undefined): AgentRecord | undefined {
    let best = local?.state === "online" ? local : undefined;
    for (const agents of this.remote.peers()) {
      const remote = agents.get(hostname);
      if (remote && (!best || remote.connectedAt > best.connectedAt)) best = remote;
    }
    return best ?? local;
  }
}
