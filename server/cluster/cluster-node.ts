// This control plane as a replica of a cluster (DESIGN.md section 9): the NATS
// connection, the presence book, remote dispatch both ways, and the FleetView the
// router and the fleet listing read. Created before the gRPC port is bound (the
// view answers UNAVAILABLE until the replica joined), joined once the port is known.
import { hostname } from "node:os";
import type { Logger } from "../../common/logger.js";
import { unavailable } from "../../common/status-error.js";
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

export class ClusterNode {
  readonly view: FleetView;
  private connection: ClusterConnection | undefined;
  private presence: ReplicaPresenceBook | undefined;
  private dispatcher: RemoteDispatcher | undefined;
  private receiver: DispatchReceiver | undefined;
  private id = "";

  constructor(
    private readonly options: ClusterOptions,
    private readonly deps: ClusterNodeDeps,
  ) {
    this.view = new FleetView(
      deps.registry,
      { peers: () => this.presence?.peers() ?? [] },
      () => this.id,
      () => (this.connection ? this.connection.unavailableError() : NOT_JOINED),
    );
  }

  get replicaId(): string {
    return this.id;
  }

  /** Connects to NATS, announces this replica's agents, learns its peers'. Returns the replica id. */
  async join(grpcAddress: string): Promise<string> {
    const { logger, registry, store } = this.deps;
    const port = grpcAddress.slice(grpcAddress.lastIndexOf(":") + 1);
    const id = this.options.replicaId ?? `${hostname()}:${port}`;
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
    const connection = await ClusterConnection.open(this.options.natsUrls, id, logger, {
      onDisconnect: () => {
        // Results sent meanwhile may be lost: nothing waits on them until the job's timeout.
        const failed = dispatcher.failReplica(undefined);
        if (failed > 0) logger.warn({ failed }, "commands on other replicas failed: NATS connection lost");
      },
      onReconnect: () => presence.resync(),
    });
    this.id = id;
    this.connection = connection;
    this.presence = presence;
    this.dispatcher = dispatcher;
    this.receiver = receiver;
    dispatcher.listen(connection.nats);
    receiver.listen(connection.nats);
    presence.start(connection.nats, grpcAddress);
    await connection.nats.flush();
    await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
    const interrupted = await store.interruptRunningJobs(new Date(), id);
    if (interrupted > 0) logger.warn({ interrupted }, "jobs this replica left running before its restart marked interrupted");
    logger.info({ replica: id, peers: presence.peerIds() }, "cluster joined");
    return id;
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

  /** Says goodbye to the peers and closes the connection. */
  async leave(): Promise<void> {
    this.presence?.leave();
    this.receiver?.close();
    this.dispatcher?.close();
    await this.connection?.close();
  }
}
