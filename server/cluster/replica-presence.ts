// Which replica holds which agent. Each replica numbers the versions of its set of
// online agents and tells its peers what changed (DELTA, soon after an agent comes or
// goes), that it is alive (BEAT, every interval), and the whole set (FULL, every few
// intervals and when a peer asks with a SyncRequest), split over several NATS
// messages when it would not fit in one (message-parts.ts). A peer that sees a
// version it cannot reach from the one it holds asks that replica for a FULL. So
// the traffic grows with the changes, not with the fleet times the changes, which
// matters when thousands of agents connect at once.
//
// A peer silent for three intervals, or that said it is leaving, is dead: its agents
// leave the view and `onPeerLost` lets the cluster fail what waited on it and
// interrupt its jobs.
import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Msg, NatsConnection, Subscription } from "nats";
import type { Logger } from "../../common/logger.js";
import {
  PresenceKind,
  ReplicaPresenceSchema,
  SyncRequestSchema,
  type AgentPresence,
  type ReplicaPresence,
} from "../../gen/trustplane/cluster/v1/cluster_pb.js";
import type { AgentLink, CommandWaiter } from "../agent-link.js";
import type { AgentRecord, AgentRegistry } from "../registry.js";
import { maxPayload, partition } from "./message-parts.js";
import type { RemoteDispatcher } from "./remote-dispatch.js";
import { subjects } from "./subjects.js";
import type { RemoteAgents } from "./fleet-view.js";

export const DEFAULT_PRESENCE_INTERVAL_MS = 2_000;
const MISSED_INTERVALS = 3;
/** Every this many intervals the whole set goes out (it refreshes last seen and in-flight counts). */
const FULL_EVERY_INTERVALS = 5;
/** After a local agent comes or goes, or a peer asks, how soon the presence goes out (changes in between ride along). */
const CHANGE_DELAY_MS = 50;
/** Room for a presence header to grow between measuring and sending (varints of versions and counts). */
const HEADER_SLACK = 32;

/** An agent held by another replica, as a job sees it. */
class RemoteAgentLink implements AgentLink {
  readonly sessionId = "";

  constructor(
    private readonly dispatcher: RemoteDispatcher,
    private readonly replica: string,
    private readonly hostname: string,
    readonly inFlight: number,
  ) {}

  dispatch(commandId: string, frame: Uint8Array, waiter: CommandWaiter, slot: number): boolean {
    return this.dispatcher.send(this.replica, this.hostname, commandId, frame, waiter, slot);
  }

  forget(commandId: string): void {
    this.dispatcher.forget(commandId);
  }

  replace(): void {
    // The holding replica closes its own stream when it sees the newer one (ReplicaPresence).
  }
}

/** Runs an action CHANGE_DELAY_MS after the first of any number of `schedule()` calls: the calls in between ride along. */
class Soon {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly action: () => void) {}

  schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.action();
    }, CHANGE_DELAY_MS);
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A FULL presence arriving in parts. */
interface Snapshot {
  version: bigint;
  total: number;
  agents: Map<string, AgentRecord>;
}

interface Peer {
  id: string;
  address: string;
  heardAt: number;
  incarnation: bigint;
  /** The version `agents` is at; meaningful once `synced`. */
  version: bigint;
  /** `agents` is the peer's set at `version` (false until its first FULL, and after a gap). */
  synced: boolean;
  agents: Map<string, AgentRecord>;
  snapshot?: Snapshot;
  /** When this replica last asked the peer for a FULL (asks at most once per interval). */
  askedAt: number;
}

export interface ReplicaPresenceOptions {
  replicaId: string;
  registry: AgentRegistry;
  dispatcher: RemoteDispatcher;
  logger: Logger;
  intervalMs?: number;
  /** A peer is dead (silent, or leaving). */
  onPeerLost(peerId: string): void;
}

/** `record` with its stream, when this replica holds one for it. */
function heldStream(record: AgentRecord): { record: AgentRecord; link: AgentLink } | undefined {
  return record.state === "online" && record.link ? { record, link: record.link } : undefined;
}

/** A local agent as a presence entry. */
function agentPresence({ record, link }: { record: AgentRecord; link: AgentLink }): AgentPresence {
  return {
    $typeName: "trustplane.cluster.v1.AgentPresence",
    hostname: record.hostname,
    labels: { ...record.labels },
    os: record.os,
    agentVersion: record.agentVersion,
    connectedUnixMs: BigInt(record.connectedAt),
    lastSeenUnixMs: BigInt(record.lastSeen),
    inFlight: link.inFlight,
    identity: record.identity,
  };
}

/** One `agents` entry, encoded as a message of its own (message-parts.ts). */
function agentEntry(agent: AgentPresence): Uint8Array {
  return toBinary(ReplicaPresenceSchema, create(ReplicaPresenceSchema, { agents: [agent] }));
}

/** One `gone` entry, encoded as a message of its own. */
function goneEntry(hostname: string): Uint8Array {
  return toBinary(ReplicaPresenceSchema, create(ReplicaPresenceSchema, { gone: [hostname] }));
}

export class ReplicaPresenceBook implements RemoteAgents {
  private readonly peersById = new Map<string, Peer>();
  private readonly intervalMs: number;
  private readonly incarnation = randomBytes(8).readBigUInt64BE();
  private version = 0n;
  /** Local hostnames that came or went since the last DELTA. */
  private readonly changed = new Set<string>();
  private ticks = 0;
  private nats: NatsConnection | undefined;
  private address = "";
  private subscriptions: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly changesSoon = new Soon(() => this.publishChanges());
  private readonly fullSoon = new Soon(() => this.publishFull());

  constructor(private readonly options: ReplicaPresenceOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_PRESENCE_INTERVAL_MS;
    options.registry.onChange((record) => {
      this.changed.add(record.hostname);
      if (this.nats) this.changesSoon.schedule();
    });
  }

  *peers(): IterableIterator<ReadonlyMap<string, AgentRecord>> {
    for (const peer of this.peersById.values()) yield peer.agents;
  }

  peerIds(): string[] {
    return [...this.peersById.keys()].sort();
  }

  /** Subscribes, announces this replica and asks the peers for theirs. */
  start(nats: NatsConnection, address: string): void {
    this.nats = nats;
    this.address = address;
    this.subscriptions = [
      nats.subscribe(subjects.presence, { callback: (error, msg) => !error && this.onPresence(msg) }),
      nats.subscribe(subjects.sync, { callback: (error, msg) => !error && this.onSync(msg) }),
    ];
    this.resync();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** After a reconnect: peers get a fresh start (their silence was ours), everyone sends a FULL. */
  resync(): void {
    const now = Date.now();
    for (const peer of this.peersById.values()) {
      peer.heardAt = now;
      peer.synced = false; // what they said meanwhile did not reach us
    }
    this.publishFull();
    this.askForFull("");
  }

  /** Tells the peers this replica is going (they drop it at once) and stops. */
  leave(): void {
    clearInterval(this.timer);
    this.changesSoon.cancel();
    this.fullSoon.cancel();
    this.send(PresenceKind.BEAT, [], { leaving: true });
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.subscriptions = [];
  }

  private tick(): void {
    const deadline = Date.now() - MISSED_INTERVALS * this.intervalMs;
    for (const peer of [...this.peersById.values()]) {
      if (peer.heardAt < deadline) this.lose(peer, `silent for more than ${MISSED_INTERVALS * this.intervalMs} ms`);
    }
    this.ticks++;
    if (this.ticks % FULL_EVERY_INTERVALS === 0) this.publishFull();
    else {
      this.publishChanges();
      this.send(PresenceKind.BEAT, []);
    }
  }

  private lose(peer: Peer, why: string): void {
    this.peersById.delete(peer.id);
    this.options.logger.warn({ peer: peer.id, agents: peer.agents.size, why }, "replica lost");
    this.options.onPeerLost(peer.id);
  }

  /** The local agent behind `hostname` when this replica holds its stream. */
  private held(hostname: string): { record: AgentRecord; link: AgentLink } | undefined {
    const record = this.options.registry.get(hostname);
    return record && heldStream(record);
  }

  /** DELTAs for what changed since the last one: one version per NATS message. */
  private publishChanges(): void {
    if (this.changed.size === 0 || !this.connected()) return;
    const entries: Uint8Array[] = [];
    for (const hostname of this.changed) {
      const held = this.held(hostname);
      entries.push(held ? agentEntry(agentPresence(held)) : goneEntry(hostname));
    }
    this.changed.clear();
    for (const part of partition(entries, this.entryBudget())) {
      this.version++;
      this.send(PresenceKind.DELTA, part);
    }
  }

  /** The whole set, at the current version, in as many parts as it needs. */
  private publishFull(): void {
    this.fullSoon.cancel();
    if (!this.connected()) return;
    this.changed.clear(); // the FULL says it all
    this.version++;
    const entries: Uint8Array[] = [];
    for (const record of this.options.registry.records()) {
      const held = heldStream(record);
      if (held) entries.push(agentEntry(agentPresence(held)));
    }
    for (const part of partition(entries, this.entryBudget())) {
      this.send(PresenceKind.FULL, part, { totalAgents: entries.length });
    }
  }

  /** Bytes of entries one presence message may carry: NATS's limit less the header (whose version may grow by a byte or two). */
  private entryBudget(): number {
    return maxPayload(this.nats!) - this.header(PresenceKind.FULL, {}).length - HEADER_SLACK;
  }

  private connected(): boolean {
    return this.nats !== undefined && !this.nats.isClosed();
  }

  private send(kind: PresenceKind, entries: readonly Uint8Array[], extra: { leaving?: boolean; totalAgents?: number } = {}): void {
    const nats = this.nats;
    if (!nats || nats.isClosed()) return;
    const payload = Buffer.concat([this.header(kind, extra), ...entries]);
    try {
      nats.publish(subjects.presence, payload);
    } catch (error) {
      // Peers notice the gap in versions (or the silence) and ask again.
      this.options.logger.warn({ kind: PresenceKind[kind], bytes: payload.length, err: (error as Error).message }, "presence not published");
    }
  }

  private header(kind: PresenceKind, extra: { leaving?: boolean; totalAgents?: number }): Uint8Array {
    const header = create(ReplicaPresenceSchema, {
      replicaId: this.options.replicaId,
      grpcAddress: this.address,
      sentUnixMs: BigInt(Date.now()),
      incarnation: this.incarnation,
      version: this.version,
      kind,
      leaving: extra.leaving ?? false,
      totalAgents: extra.totalAgents ?? 0,
    });
    return toBinary(ReplicaPresenceSchema, header);
  }

  /** Asks `target` (every peer when empty) for a FULL presence. */
  private askForFull(target: string): void {
    const nats = this.nats;
    if (!nats || nats.isClosed()) return;
    try {
      nats.publish(subjects.sync, toBinary(SyncRequestSchema, create(SyncRequestSchema, { replicaId: this.options.replicaId, targetReplicaId: target })));
    } catch (error) {
      this.options.logger.debug({ err: (error as Error).message }, "sync request not published");
    }
  }

  private onSync(msg: Msg): void {
    let request;
    try {
      request = fromBinary(SyncRequestSchema, msg.data);
    } catch {
      return;
    }
    if (request.replicaId === this.options.replicaId) return;
    if (request.targetReplicaId !== "" && request.targetReplicaId !== this.options.replicaId) return;
    this.fullSoon.schedule();
  }

  private onPresence(msg: Msg): void {
    let presence: ReplicaPresence;
    try {
      presence = fromBinary(ReplicaPresenceSchema, msg.data);
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, "undecodable presence from a replica; ignored");
      return;
    }
    const id = presence.replicaId;
    if (id === this.options.replicaId || id === "") return;
    let peer = this.peersById.get(id);
    if (presence.leaving) {
      if (peer) this.lose(peer, "leaving");
      return;
    }
    if (!peer) {
      peer = { id, address: presence.grpcAddress, heardAt: 0, incarnation: presence.incarnation, version: 0n, synced: false, agents: new Map(), askedAt: 0 };
      this.peersById.set(id, peer);
      this.options.logger.info({ peer: id, address: presence.grpcAddress }, "replica joined");
      // Let the newcomer know this replica without waiting for the next interval.
      this.fullSoon.schedule();
    } else if (peer.incarnation !== presence.incarnation) {
      // The peer restarted: the streams of its earlier run are gone.
      this.options.logger.info({ peer: id, agents: peer.agents.size }, "replica restarted");
      Object.assign(peer, { incarnation: presence.incarnation, version: 0n, synced: false, agents: new Map(), snapshot: undefined });
    }
    peer.heardAt = Date.now();
    peer.address = presence.grpcAddress;
    switch (presence.kind) {
      case PresenceKind.FULL:
        this.takeFullPart(peer, presence);
        break;
      case PresenceKind.DELTA:
        if (peer.synced && presence.version === peer.version + 1n) {
          this.takeDelta(peer, presence);
          peer.version = presence.version;
        } else if (!peer.synced || presence.version > peer.version) {
          this.resyncPeer(peer, `delta ${presence.version} after version ${peer.version}`);
        }
        break;
      default: // BEAT
        if (!peer.synced || presence.version !== peer.version) this.resyncPeer(peer, `at version ${presence.version}, known ${peer.version}`);
    }
  }

  /** Asks `peer` for a FULL, at most once per interval (a FULL in parts is on its way meanwhile). */
  private resyncPeer(peer: Peer, why: string): void {
    peer.synced = false;
    const now = Date.now();
    if (now - peer.askedAt < this.intervalMs) return;
    peer.askedAt = now;
    this.options.logger.debug({ peer: peer.id, why }, "presence of a replica out of step; asking for all of it");
    this.askForFull(peer.id);
  }

  private takeFullPart(peer: Peer, presence: ReplicaPresence): void {
    let snapshot = peer.snapshot;
    if (!snapshot || snapshot.version !== presence.version) {
      snapshot = { version: presence.version, total: presence.totalAgents, agents: new Map() };
      peer.snapshot = snapshot;
    }
    for (const agent of presence.agents) {
      const record = this.remoteRecord(peer.id, agent);
      snapshot.agents.set(record.hostname, record);
    }
    if (snapshot.agents.size < snapshot.total) return;
    peer.agents = snapshot.agents;
    peer.version = snapshot.version;
    peer.synced = true;
    peer.snapshot = undefined;
    for (const record of peer.agents.values()) this.yieldMovedAgent(record);
  }

  private takeDelta(peer: Peer, presence: ReplicaPresence): void {
    for (const hostname of presence.gone) peer.agents.delete(hostname.toLowerCase());
    for (const agent of presence.agents) {
      const record = this.remoteRecord(peer.id, agent);
      peer.agents.set(record.hostname, record);
      this.yieldMovedAgent(record);
    }
  }

  private remoteRecord(peerId: string, agent: AgentPresence): AgentRecord {
    const hostname = agent.hostname.toLowerCase();
    const connectedAt = Number(agent.connectedUnixMs);
    return {
      hostname,
      labels: agent.labels,
      os: agent.os,
      agentVersion: agent.agentVersion,
      state: "online",
      connectedAt,
      lastSeen: Number(agent.lastSeenUnixMs),
      link: new RemoteAgentLink(this.options.dispatcher, peerId, hostname, agent.inFlight),
      identity: agent.identity,
      savedSeen: connectedAt,
      replica: peerId,
    };
  }

  /** A hostname this replica holds came online, newer, at a peer with the same identity: the agent moved. */
  private yieldMovedAgent(remote: AgentRecord): void {
    const local = this.held(remote.hostname);
    if (!local || local.record.connectedAt >= remote.connectedAt || local.record.identity !== remote.identity) return;
    this.options.logger.info({ hostname: remote.hostname }, "agent reconnected to another replica; closing its old stream here");
    local.link.replace();
  }
}
