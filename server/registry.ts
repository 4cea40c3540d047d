// The agents the control plane knows, by hostname: online ones with their live
// stream, and offline ones for `offlineRetentionMs` after they were last seen, so a
// target naming them reports them offline instead of "not found".
import { EventEmitter, once } from "node:events";
import type { Hello, OsFacts } from "../gen/trustplane/v1/agent_pb.js";
import { isValidHostname, labelsProblem, MAX_HOSTNAME_LENGTH } from "../common/names.js";
import { invalidArgument, StatusError, GrpcStatus } from "../common/status-error.js";
import type { AgentLink } from "./agent-link.js";

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
  /** Who the stream proved to be (the join token, or a certificate name). */
  identity: string;
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
}

export interface AgentRegistryOptions {
  /** How long an offline agent stays known; default 7 days. */
  offlineRetentionMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export const DEFAULT_OFFLINE_RETENTION_MS = 7 * 24 * 3600 * 1000;

/** Why a hello is refused, or undefined when it is fine. */
export function helloProblem(hello: Hello): string | undefined {
  if (!isValidHostname(hello.hostname)) {
    return `hostname "${hello.hostname.slice(0, MAX_HOSTNAME_LENGTH)}" is not a valid RFC 1123 host name of at most ${MAX_HOSTNAME_LENGTH} characters`;
  }
  return labelsProblem(hello.labels);
}

export class AgentRegistry {
  private readonly agents = new Map<string, AgentRecord>();
  private readonly events = new EventEmitter();
  private readonly retentionMs: number;
  private readonly now: () => number;

  constructor(options: AgentRegistryOptions = {}) {
    this.retentionMs = options.offlineRetentionMs ?? DEFAULT_OFFLINE_RETENTION_MS;
    this.now = options.now ?? Date.now;
    this.events.setMaxListeners(0);
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
    const previous = record?.state === "online" ? record.link : undefined;
    if (record && previous && record.identity !== identity) {
      throw new StatusError(GrpcStatus.ALREADY_EXISTS, `agent "${hostname}" is already connected with another identity`);
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
    if (previous && previous !== link) previous.replace();
    this.events.emit("online", record);
    return record;
  }

  /** The stream `link` ended; its agent is offline unless another stream took over. */
  detach(record: AgentRecord, link: AgentLink): void {
    if (record.link !== link) return;
    record.link = undefined;
    record.state = "offline";
    record.lastSeen = this.now();
    this.events.emit("offline", record);
  }

  /** The known agent with this hostname (case-insensitive). */
  get(hostname: string): AgentRecord | undefined {
    const key = hostname.toLowerCase();
    const record = this.agents.get(key);
    if (record && this.expired(record)) {
      this.agents.delete(key);
      return undefined;
    }
    return record;
  }

  /** Every known agent, forgetting those offline for longer than the retention. */
  *records(): IterableIterator<AgentRecord> {
    for (const [hostname, record] of this.agents) {
      if (this.expired(record)) {
        this.agents.delete(hostname);
        continue;
      }
      yield record;
    }
  }

  /** Snapshots of the known agents, sorted by hostname. */
  list(): AgentView[] {
    return [...this.records()].map(agentView).sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  }

  view(hostname: string): AgentView | undefined {
    const record = this.get(hostname);
    return record ? agentView(record) : undefined;
  }

  get onlineCount(): number {
    let count = 0;
    for (const record of this.records()) if (record.state === "online") count++;
    return count;
  }

  /** Resolves when `hostname` is online (at once if it already is). */
  async whenOnline(hostname: string, timeoutMs = 10_000): Promise<AgentView> {
    const key = hostname.toLowerCase();
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const record = this.get(key);
      if (record?.state === "online") return agentView(record);
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
      if (record?.state === "offline") return agentView(record);
      try {
        await once(this.events, "offline", { signal });
      } catch {
        throw new Error(`agent "${hostname}" did not go offline within ${timeoutMs} ms`);
      }
    }
  }

  /** Online agents' live streams. */
  *links(): IterableIterator<AgentLink> {
    for (const record of this.agents.values()) if (record.link) yield record.link;
  }

  private expired(record: AgentRecord): boolean {
    return record.state === "offline" && this.now() - record.lastSeen > this.retentionMs;
  }
}

function agentView(record: AgentRecord): AgentView {
  return {
    hostname: record.hostname,
    labels: { ...record.labels },
    os: record.os,
    agentVersion: record.agentVersion,
    state: record.state,
    connectedAt: new Date(record.connectedAt),
    lastSeen: new Date(record.lastSeen),
    inFlight: record.link?.inFlight ?? 0,
  };
}
