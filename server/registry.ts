// The agents the control plane knows, by hostname: online ones with their live
// stream, and offline ones (seen before, or loaded from the job store at start), so
// a target naming them reports them offline instead of "not found". Offline agents
// last seen longer than `staleAgentMs` ago are stale: still known, listed and
// matched by their exact hostname, but no longer by `_all` or selectors.
//
// Every hello and disconnect is written to the store (KnownAgentRecorder); the
// last-seen time of a connected agent at most once per `seenWriteIntervalMs`.
import { EventEmitter, once } from "node:events";
import type { Hello, OsFacts } from "../gen/trustplane/v1/agent_pb.js";
import { isValidHostname, labelsProblem, MAX_HOSTNAME_LENGTH } from "../common/names.js";
import { invalidArgument, StatusError, GrpcStatus } from "../common/status-error.js";
import type { AgentLink } from "./agent-link.js";
import type { KnownAgent, KnownAgentRecorder } from "./job-store/job-store.js";

export type AgentState = "online" | "offline";

/** The registry's live record of one agent; the same object for a hostname across reconnects. */
export interface AgentRecord {
  readonly hostname: string;
  labels: Readonly<Record<string, string>>;
  os: OsFacts | undefined;
  agentVersion: string;
  state: AgentState;
  /** Unix ms of the current (or last) stream's hello. */
  connectedAt: number;
  /** Unix ms of the last message from the agent. */
  lastSeen: number;
  /** The live stream while online. */
  link: AgentLink | undefined;
  /** Who the stream proved to be (the join token, or a certificate name); empty if never connected here. */
  identity: string;
  /** Unix ms of the last-seen time last written to the store. */
  savedSeen: number;
  /** Set on agents held by another replica of a cluster (server/cluster/fleet-view.ts). */
  replica?: string;
}

/** A snapshot of an agent, for listings. */
export interface AgentView {
  hostname: string;
  labels: Record<string, string>;
  os: OsFacts | undefined;
  agentVersion: string;
  state: AgentState;
  connectedAt: Date;
  lastSeen: Date;
  inFlight: number;
  /** Offline for longer than the stale age: not matched by `_all` or selectors. */
  stale: boolean;
  /** The cluster replica holding the agent's stream; "" when offline or with one control plane. */
  replica: string;
}

/**
 * The agents a target is resolved against and the fleet listing reads: this control
 * plane's registry, or with several replicas the whole cluster's (FleetView).
 */
export interface AgentDirectory {
  /** The known agent with this hostname (case-insensitive). */
  get(hostname: string): AgentRecord | undefined;
  /** Every known agent, stale ones included, once per hostname. */
  records(): Iterable<AgentRecord>;
  isStale(record: AgentRecord): boolean;
  /** A snapshot of the agent (by hostname or record), or undefined if unknown. */
  view(agent: string | AgentRecord): AgentView | undefined;
  /** Removes an offline agent; false if it is unknown or online. */
  forget(hostname: string): boolean;
}

export interface AgentRegistryOptions {
  /** After how long offline an agent is stale; default 7 days. */
  staleAgentMs?: number;
  /** Where known agents are written; default nowhere. */
  recorder?: KnownAgentRecorder;
  /** How often a connected agent's last-seen time is written; default 60 s. */
  seenWriteIntervalMs?: number;
  /** Told of every accepted hello; `reconnect` when the hostname was already known. */
  onAttach?: (reconnect: boolean) => void;
  /** Clock, for tests. */
  now?: () => number;
  /** In a cluster: the newest stream for a hostname at another replica (its identity is checked like a local one's). */
  heldElsewhere?: (hostname: string) => AgentRecord | undefined;
}

export const DEFAULT_STALE_AGENT_MS = 7 * 24 * 3600 * 1000;
export const DEFAULT_SEEN_WRITE_INTERVAL_MS = 60_000;

/** Why a hello is refused, or undefined when it is fine. */
export function helloProblem(hello: Hello): string | undefined {
  if (!isValidHostname(hello.hostname)) {
    return `hostname "${hello.hostname.slice(0, MAX_HOSTNAME_LENGTH)}" is not a valid RFC 1123 host name of at most ${MAX_HOSTNAME_LENGTH} characters`;
  }
  return labelsProblem(hello.labels);
}

function byHostname(a: { hostname: string }, b: { hostname: string }): number {
  return a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0;
}

export class AgentRegistry implements AgentDirectory {
  private readonly agents = new Map<string, AgentRecord>();
  private readonly events = new EventEmitter();
  private readonly staleMs: number;
  private readonly seenWriteIntervalMs: number;
  private readonly now: () => number;

  constructor(private readonly options: AgentRegistryOptions = {}) {
    this.staleMs = options.staleAgentMs ?? DEFAULT_STALE_AGENT_MS;
    this.seenWriteIntervalMs = options.seenWriteIntervalMs ?? DEFAULT_SEEN_WRITE_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.events.setMaxListeners(0);
  }

  /** Adds agents known from the store as offline (hostnames already present are kept). */
  load(agents: readonly KnownAgent[]): void {
    for (const agent of agents) {
      const hostname = agent.hostname.toLowerCase();
      if (this.agents.has(hostname)) continue;
      const lastSeen = agent.lastSeenAt.getTime();
      this.agents.set(hostname, {
        hostname,
        labels: { ...agent.labels },
        os: agent.os,
        agentVersion: agent.agentVersion,
        state: "offline",
        connectedAt: agent.connectedAt.getTime(),
        lastSeen,
        link: undefined,
        identity: "",
        savedSeen: lastSeen,
      });
    }
  }

  /**
   * Registers the stream that said `hello`. A hostname already online is taken over
   * only by the same identity; the old stream is then replaced (its in-flight
   * commands fail with `agent reconnected`). Throws INVALID_ARGUMENT for a bad hello,
   * ALREADY_EXISTS for another identity claiming a connected hostname.
   */
  attach(hello: Hello, link: AgentLink, identity: string): AgentRecord {
    const problem = helloProblem(hello);
    if (problem) throw invalidArgument(`invalid hello: ${problem}`);
    const now = this.now();
    const hostname = hello.hostname.toLowerCase();
    let record = this.agents.get(hostname);
    const reconnect = record !== undefined;
    const previous = record?.state === "online" ? record.link : undefined;
    if (record && previous && record.identity !== identity) {
      throw new StatusError(GrpcStatus.ALREADY_EXISTS, `agent "${hostname}" is already connected with another identity`);
    }
    const elsewhere = this.options.heldElsewhere?.(hostname);
    if (elsewhere && elsewhere.identity !== identity) {
      throw new StatusError(GrpcStatus.ALREADY_EXISTS, `agent "${hostname}" is already connected to replica ${elsewhere.replica} with another identity`);
    }
    if (!record) {
      record = {
        hostname,
        labels: {},
        os: undefined,
        agentVersion: "",
        state: "online",
        connectedAt: now,
        lastSeen: now,
        link: undefined,
        identity,
        savedSeen: now,
      };
      this.agents.set(hostname, record);
    }
    record.labels = { ...hello.labels };
    record.os = hello.os;
    record.agentVersion = hello.agentVersion;
    record.state = "online";
    record.connectedAt = now;
    record.lastSeen = now;
    record.link = link;
    record.identity = identity;
    record.savedSeen = now;
    if (previous && previous !== link) previous.replace();
    this.options.recorder?.recordAgent(knownAgent(record));
    this.options.onAttach?.(reconnect);
    this.events.emit("online", record);
    return record;
  }

  /** A message from the agent: it was seen now (written to the store at most once per interval). */
  touch(record: AgentRecord): void {
    const now = this.now();
    record.lastSeen = now;
    if (now - record.savedSeen < this.seenWriteIntervalMs) return;
    record.savedSeen = now;
    this.options.recorder?.recordAgent(knownAgent(record));
  }

  /** The stream `link` ended; its agent is offline unless another stream took over. */
  detach(record: AgentRecord, link: AgentLink): void {
    if (record.link !== link) return;
    record.link = undefined;
    record.state = "offline";
    record.lastSeen = this.now();
    record.savedSeen = record.lastSeen;
    this.options.recorder?.recordAgent(knownAgent(record));
    this.events.emit("offline", record);
  }

  /** Removes an offline agent from the registry; false if it is unknown or online. */
  forget(hostname: string): boolean {
    const key = hostname.toLowerCase();
    const record = this.agents.get(key);
    if (!record || record.state !== "offline") return false;
    return this.agents.delete(key);
  }

  /** Offline for longer than the stale age. */
  isStale(record: AgentRecord): boolean {
    return record.state === "offline" && this.now() - record.lastSeen > this.staleMs;
  }

  /** The known agent with this hostname (case-insensitive). */
  get(hostname: string): AgentRecord | undefined {
    return this.agents.get(hostname.toLowerCase());
  }

  /** Every known agent, stale ones included. */
  records(): IterableIterator<AgentRecord> {
    return this.agents.values();
  }

  /** Snapshots of the known agents, sorted by hostname. */
  list(): AgentView[] {
    return [...this.agents.values()].map((record) => agentView(record, this.isStale(record))).sort(byHostname);
  }

  /** A snapshot of the agent (by hostname or record), or undefined if unknown. */
  view(agent: string | AgentRecord): AgentView | undefined {
    const record = typeof agent === "string" ? this.get(agent) : agent;
    return record ? agentView(record, this.isStale(record)) : undefined;
  }

  get onlineCount(): number {
    return this.stateCounts().online;
  }

  stateCounts(): { online: number; offline: number } {
    let online = 0;
    for (const record of this.agents.values()) if (record.state === "online") online++;
    return { online, offline: this.agents.size - online };
  }

  /** Resolves when `hostname` is online (at once if it already is). */
  async whenOnline(hostname: string, timeoutMs = 10_000): Promise<AgentView> {
    const key = hostname.toLowerCase();
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const record = this.get(key);
      if (record?.state === "online") return this.view(record)!;
      try {
        await once(this.events, "online", { signal });
      } catch {
        throw new Error(`agent "${hostname}" did not come online within ${timeoutMs} ms`);
      }
    }
  }

  /** Resolves when `hostname` is known and offline (at once if it already is). */
  async whenOffline(hostname: string, timeoutMs = 10_000): Promise<AgentView> {
    const key = hostname.toLowerCase();
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const record = this.get(key);
      if (record?.state === "offline") return this.view(record)!;
      try {
        await once(this.events, "offline", { signal });
      } catch {
        throw new Error(`agent "${hostname}" did not go offline within ${timeoutMs} ms`);
      }
    }
  }

  /** Calls `listener` whenever an agent comes online or goes offline here. */
  onChange(listener: (record: AgentRecord) => void): void {
    this.events.on("online", listener);
    this.events.on("offline", listener);
  }

  /** Online agents' live streams. */
  *links(): IterableIterator<AgentLink> {
    for (const record of this.agents.values()) if (record.link) yield record.link;
  }
}

function knownAgent(record: AgentRecord): KnownAgent {
  return {
    hostname: record.hostname,
    labels: { ...record.labels },
    os: record.os,
    agentVersion: record.agentVersion,
    connectedAt: new Date(record.connectedAt),
    lastSeenAt: new Date(record.lastSeen),
  };
}

export function agentView(record: AgentRecord, stale: boolean): AgentView {
  return {
    hostname: record.hostname,
    labels: { ...record.labels },
    os: record.os,
    agentVersion: record.agentVersion,
    state: record.state,
    connectedAt: new Date(record.connectedAt),
    lastSeen: new Date(record.lastSeen),
    inFlight: record.link?.inFlight ?? 0,
    stale,
    replica: record.state === "online" ? (record.replica ?? "") : "",
  };
}
