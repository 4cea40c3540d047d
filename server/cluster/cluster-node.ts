// This control plane as a replica of a cluster (DESIGN.md section 9): the NATS
// connection, the presence book, remote dispatch both ways, and the FleetView the
// router and the fleet listing read. Created before the gRPC port is bound (the
// view answers UNAVAILABLE until the replica joined), started once the port is known.
// Joining goes on in the background until NATS answers, so that a replica started
// before NATS (a data centre coming back, pods in any order) serves its agents and
// answers 503 for the fleet meanwhile instead of exiting.
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../../common/logger.js";
import { unavailable, type StatusError } from "../../common/status-error.js";
import type { JobStore } from "../job-store/job-store.js";
import type { AgentRecord, AgentRegistry } from "../registry.js";
import { ClusterConnection } from "./cluster-connection.js";
import { FleetView } from "./fleet-view.js";
import { DispatchReceiver, RemoteDispatcher } from "./remote-dispatch.js";
import { ReplicaPresenceBook } from "./replica-presence.js";

export interface ClusterOptions {
  /** "nats://host:port" of the NATS servers (any one is enough). */
  natsUrls: string[];
  /** This replica's id; default "<host name>:<gRPC port>", stable across restarts. */
  replicaId?: string;
  /** How often a replica announces its agents (and peers are checked for silence); default 2 s. */
  presenceIntervalMs?: number;
}

export interface ClusterNodeDeps {
  registry: AgentRegistry;
  store: JobStore;
  logger: Logger;
}

const NOT_JOINED = unavailable("cluster unavailable: this replica has not joined the cluster yet");
/** How long a joining replica listens for its peers' presence before it says it joined. */
const GATHER_MS = 300;
/** Waits between attempts to reach NATS (or the job store) while joining: doubling from the first, up to the last. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;

export class ClusterNode {
  readonly view: FleetView;
  private connection: ClusterConnection | undefined;
  private presence: ReplicaPresenceBook | undefined;
  private dispatcher: RemoteDispatcher | undefined;
  private receiver: DispatchReceiver | undefined;
  private id = "";
  /** Why the last attempt to reach NATS failed, while joining. */
  private joinError: StatusError | undefined;
  private readonly stopping = new AbortController();
  private joining: Promise<void> | undefined;
  /** Connected and has heard its peers: the view can answer for the fleet. */
  private ready = false;

  constructor(
    private readonly options: ClusterOptions,
    private readonly deps: ClusterNodeDeps,
  ) {
    this.view = new FleetView(
      deps.registry,
      { peers: () => this.presence?.peers() ?? [] },
      () => this.id,
      () => (this.ready && this.connection ? this.connection.unavailableError() : (this.joinError ?? NOT_JOINED)),
    );
  }

  get replicaId(): string {
    return this.id;
  }

  /**
   * Starts joining the cluster: returns this replica's id at once; `joined` resolves
   * once it is connected to NATS, has announced its agents and learnt its peers'.
   */
  start(grpcAddress: string): string {
    const port = grpcAddress.slice(grpcAddress.lastIndexOf(":") + 1);
    this.id = this.options.replicaId ?? `${hostname()}:${port}`;
    this.joining = this.join(grpcAddress).catch((error: unknown) => {
      if (!this.stopping.signal.aborted) this.deps.logger.error({ err: (error as Error).message }, "could not join the cluster");
    });
    return this.id;
  }

  /** Resolves once the replica joined (or gave up because it is leaving). */
  get joined(): Promise<void> {
    return this.joining ?? Promise.resolve();
  }

  private async join(grpcAddress: string): Promise<void> {
    const { logger, registry } = this.deps;
    const id = this.id;
    const nats = () => (this.connection?.connected ? this.connection.nats : undefined);
    const dispatcher = new RemoteDispatcher(id, nats, logger.child({ service: "remote-dispatch" }));
    const receiver = new DispatchReceiver(id, registry, nats, logger.child({ service: "remote-dispatch" }));
    const presence = new ReplicaPresenceBook({
      replicaId: id,
      registry,
      dispatcher,
      logger,
      intervalMs: this.options.presenceIntervalMs,
      onPeerLost: (peer) => void this.peerLost(peer),
    });
    const connection = await this.retrying("reach NATS", () =>
      ClusterConnection.open(this.options.natsUrls, id, logger, {
        onDisconnect: () => {
          // Results sent meanwhile may be lost: nothing waits on them until the job's timeout.
          const failed = dispatcher.failReplica(undefined);
          if (failed > 0) logger.warn({ failed }, "commands on other replicas failed: NATS connection lost");
        },
        onReconnect: () => presence.resync(),
      }).catch((error: unknown) => {
        this.joinError = error as StatusError;
        throw error;
      }),
    );
    if (this.stopping.signal.aborted) {
      await connection.close();
      return;
    }
    this.connection = connection;
    this.joinError = undefined;
    this.presence = presence;
    this.dispatcher = dispatcher;
    this.receiver = receiver;
    dispatcher.listen(connection.nats);
    receiver.listen(connection.nats);
    presence.start(connection.nats, grpcAddress);
    await connection.nats.flush();
    await sleep(GATHER_MS, undefined, { signal: this.stopping.signal });
    // Before the view answers, so that no job of this run is among them.
    const interrupted = await this.retrying("mark this replica's earlier jobs interrupted", () => this.deps.store.interruptRunningJobs(new Date(), id));
    if (interrupted > 0) logger.warn({ interrupted }, "jobs this replica left running before its restart marked interrupted");
    this.ready = true;
    logger.info({ replica: id, peers: presence.peerIds() }, "cluster joined");
  }

  /** Runs `attempt` until it succeeds, waiting longer after each failure; stops when the replica leaves. */
  private async retrying<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    let wait = RETRY_FIRST_MS;
    for (let failures = 0; ; failures++) {
      try {
        return await attempt();
      } catch (error) {
        // The first failure and then every tenth: the state is in every 503 meanwhile.
        if (failures % 10 === 0) this.deps.logger.warn({ err: (error as Error).message, retryInMs: wait }, `cannot ${what} yet; retrying`);
      }
      await sleep(wait, undefined, { signal: this.stopping.signal });
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }
  }

  /** The newest stream for `hostname` at another replica, if any. */
  heldElsewhere(hostname: string): AgentRecord | undefined {
    let newest: AgentRecord | undefined;
    for (const agents of this.presence?.peers() ?? []) {
      const record = agents.get(hostname);
      if (record && (!newest || record.connectedAt > newest.connectedAt)) newest = record;
    }
    return newest;
  }

  /** A peer died: what waited on it fails, and its running jobs are interrupted (any survivor may do it; it is idempotent). */
  private async peerLost(peer: string): Promise<void> {
    const { logger, store } = this.deps;
    const failed = this.dispatcher?.failReplica(peer) ?? 0;
    try {
      const interrupted = await store.interruptJobsOfOwner(peer, new Date());
      logger.warn({ peer, failedCommands: failed, interruptedJobs: interrupted }, "replica lost: its commands failed, its jobs interrupted");
    } catch (error) {
      logger.error({ peer, err: (error as Error).message }, "could not mark a lost replica's jobs interrupted");
    }
  }

  /** Stops joining, says goodbye to the peers and closes the connection. */
  async leave(): Promise<void> {
    this.stopping.abort();
    await this.joining;
    this.presence?.leave();
    this.receiver?.close();
    this.dispatcher?.close();
    await this.connection?.close();
  }
}
