// Which replica holds which agent. Each replica publishes its online agents whole
// (ReplicaPresence) every interval, soon after one of its agents comes or goes, and
// when a peer asks (SyncRequest); it keeps what its peers said. A peer silent for
// three intervals, or that said it is leaving, is dead: its agents leave the view and
// `onPeerLost` lets the cluster fail what waited on it and interrupt its jobs.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Msg, NatsConnection, Subscription } from "nats";
import type { Logger } from "../../common/logger.js";
import {
  ReplicaPresenceSchema,
  SyncRequestSchema,
  type AgentPresence,
  type ReplicaPresence,
} from "../../gen/trustplane/cluster/v1/cluster_pb.js";
import type { AgentLink, CommandWaiter } from "../agent-link.js";
import type { AgentRecord, AgentRegistry } from "../registry.js";
import type { RemoteDispatcher } from "./remote-dispatch.js";
import { subjects } from "./subjects.js";
import type { RemoteAgents } from "./fleet-view.js";

export const DEFAULT_PRESENCE_INTERVAL_MS = 2_000;
const MISSED_INTERVALS = 3;
/** After a local agent comes or goes, how soon the presence goes out (changes in between ride along). */
const CHANGE_DELAY_MS = 50;

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

interface Peer {
  id: string;
  address: string;
  heardAt: number;
  agents: Map<string, AgentRecord>;
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

export class ReplicaPresenceBook implements RemoteAgents {
  private readonly peersById = new Map<string, Peer>();
  private readonly intervalMs: number;
  private nats: NatsConnection | undefined;
  private address = "";
  private subscriptions: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private changeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ReplicaPresenceOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_PRESENCE_INTERVAL_MS;
    options.registry.onChange(() => this.publishSoon());
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

  /** After a reconnect: peers get a fresh start (their silence was ours), and everyone re-announces. */
  resync(): void {
    const now = Date.now();
    for (const peer of this.peersById.values()) peer.heardAt = now;
    this.publish();
    this.nats?.publish(subjects.sync, toBinary(SyncRequestSchema, create(SyncRequestSchema, { replicaId: this.options.replicaId })));
  }

  /** Tells the peers this replica is going (they drop it at once) and stops. */
  leave(): void {
    clearInterval(this.timer);
    clearTimeout(this.changeTimer);
    this.publish(true);
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.subscriptions = [];
  }

  private tick(): void {
    const deadline = Date.now() - MISSED_INTERVALS * this.intervalMs;
    for (const peer of [...this.peersById.values()]) {
      if (peer.heardAt < deadline) this.lose(peer, `silent for more than ${MISSED_INTERVALS * this.intervalMs} ms`);
    }
    this.publish();
  }

  private lose(peer: Peer, why: string): void {
    this.peersById.delete(peer.id);
    this.options.logger.warn({ peer: peer.id, agents: peer.agents.size, why }, "replica lost");
    this.options.onPeerLost(peer.id);
  }

  private publishSoon(): void {
    if (this.changeTimer || !this.nats) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = undefined;
      this.publish();
    }, CHANGE_DELAY_MS);
  }

  private publish(leaving = false): void {
    const nats = this.nats;
    if (!nats || nats.isClosed()) return;
    const agents: AgentPresence[] = [];
    for (const record of this.options.registry.records()) {
      if (record.state !== "online" || !record.link) continue;
      agents.push({
        $typeName: "trustplane.cluster.v1.AgentPresence",
        hostname: record.hostname,
        labels: { ...record.labels },
        os: record.os,
        agentVersion: record.agentVersion,
        connectedUnixMs: BigInt(record.connectedAt),
        lastSeenUnixMs: BigInt(record.lastSeen),
        inFlight: record.link.inFlight,
        identity: record.identity,
      });
    }
    const presence = create(ReplicaPresenceSchema, {
      replicaId: this.options.replicaId,
      grpcAddress: this.address,
      sentUnixMs: BigInt(Date.now()),
      leaving,
      agents,
    });
    try {
      nats.publish(subjects.presence, toBinary(ReplicaPresenceSchema, presence));
    } catch (error) {
      this.options.logger.debug({ err: (error as Error).message }, "presence not published");
    }
  }

  private onSync(msg: Msg): void {
    try {
      if (fromBinary(SyncRequestSchema, msg.data).replicaId === this.options.replicaId) return;
    } catch {
      return;
    }
    this.publish();
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
    const known = this.peersById.get(id);
    if (presence.leaving) {
      if (known) this.lose(known, "leaving");
      return;
    }
    const agents = new Map<string, AgentRecord>();
    for (const agent of presence.agents) {
      const hostname = agent.hostname.toLowerCase();
      const connectedAt = Number(agent.connectedUnixMs);
      agents.set(hostname, {
        hostname,
        labels: agent.labels,
        os: agent.os,
        agentVersion: agent.agentVersion,
        state: "online",
        connectedAt,
        lastSeen: Number(agent.lastSeenUnixMs),
        link: new RemoteAgentLink(this.options.dispatcher, id, hostname, agent.inFlight),
        identity: agent.identity,
        savedSeen: connectedAt,
        replica: id,
      });
      this.yieldMovedAgent(hostname, connectedAt, agent.identity);
    }
    if (!known) {
      this.options.logger.info({ peer: id, address: presence.grpcAddress, agents: agents.size }, "replica joined");
      // Let the newcomer know this replica without waiting for the next interval.
      this.publishSoon();
    }
    this.peersById.set(id, { id, address: presence.grpcAddress, heardAt: Date.now(), agents });
  }

  /** A hostname this replica holds came online, newer, at a peer with the same identity: the agent moved. */
  private yieldMovedAgent(hostname: string, connectedAt: number, identity: string): void {
    const local = this.options.registry.get(hostname);
    if (local?.state !== "online" || !local.link || local.connectedAt >= connectedAt || local.identity !== identity) return;
    this.options.logger.info({ hostname }, "agent reconnected to another replica; closing its old stream here");
    local.link.replace();
  }
}
