// Commands for agents held by another replica, and their results.
//
// Origin side (RemoteDispatcher): a job's dispatches to one replica made in the same
// event-loop turn become ONE DispatchBatch (the command once, then (command id,
// hostname) per host), sent as a NATS request (as several, each with the command,
// when it would not fit in one NATS message); the holder acks on receipt. No
// responder or no ack in time fails those hosts at once with `control plane lost`,
// as does a replica declared dead or the loss of NATS: nobody waits for a timeout.
//
// Holder side (DispatchReceiver): each batch goes to the local agent streams, and
// their answers travel back to the origin in ResultBatch messages, one per origin
// and turn (or more, when they would not fit in one).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Msg, NatsConnection, Subscription } from "nats";
import type { Logger } from "../../common/logger.js";
import {
  DispatchAckSchema,
  DispatchBatchSchema,
  ResultBatchSchema,
  type DispatchTarget,
  type RemoteResult,
} from "../../gen/trustplane/cluster/v1/cluster_pb.js";
import { ConnectResponseSchema, type Command, type CommandResult } from "../../gen/trustplane/v1/agent_pb.js";
import type { CommandWaiter } from "../agent-link.js";
import { CommandFrames } from "../command-frames.js";
import type { AgentRegistry } from "../registry.js";
import { maxPayload, splitMessage, type MessagePart } from "./message-parts.js";
import { subjects } from "./subjects.js";

export const CONTROL_PLANE_LOST = "control plane lost";
const ACK_TIMEOUT_MS = 3_000;

interface PendingRemote {
  waiter: CommandWaiter;
  slot: number;
  replica: string;
}

interface OutgoingBatch {
  replica: string;
  jobId: string;
  /** The first host's encoded ConnectResponse: the command is read from it once. */
  frame: Uint8Array;
  targets: DispatchTarget[];
}

const NO_HEADER = new Uint8Array(0);

/** One `targets` entry, encoded on its own (message-parts.ts). */
function targetEntry(target: DispatchTarget): Uint8Array {
  return toBinary(DispatchBatchSchema, create(DispatchBatchSchema, { targets: [target] }));
}

/** One `results` entry, encoded on its own. */
function resultEntry(result: RemoteResult): Uint8Array {
  return toBinary(ResultBatchSchema, create(ResultBatchSchema, { results: [result] }));
}

/** The job id of a command id `<job id>/<hostname>` (job-runner.ts). */
function jobIdOf(commandId: string): string {
  const slash = commandId.indexOf("/");
  return slash < 0 ? commandId : commandId.slice(0, slash);
}

export class RemoteDispatcher {
  private readonly pending = new Map<string, PendingRemote>();
  private outgoing = new Map<string, OutgoingBatch>();
  private flushScheduled = false;
  private results: Subscription | undefined;

  constructor(
    private readonly replicaId: string,
    private readonly nats: () => NatsConnection | undefined,
    private readonly logger: Logger,
  ) {}

  /** Starts taking results for this replica's jobs. */
  listen(nats: NatsConnection): void {
    this.results = nats.subscribe(subjects.results(this.replicaId), { callback: (error, msg) => !error && this.onResults(msg) });
  }

  /** Commands sent to other replicas and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Queues `commandId` for `hostname` at `replica`; sent with the rest of the turn's batch. */
  send(replica: string, hostname: string, commandId: string, frame: Uint8Array, waiter: CommandWaiter, slot: number): boolean {
    this.pending.set(commandId, { waiter, slot, replica });
    const jobId = jobIdOf(commandId);
    const key = `${replica}\n${jobId}`;
    let batch = this.outgoing.get(key);
    if (!batch) {
      batch = { replica, jobId, frame, targets: [] };
      this.outgoing.set(key, batch);
    }
    batch.targets.push({ $typeName: "trustplane.cluster.v1.DispatchTarget", commandId, hostname });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  forget(commandId: string): void {
    this.pending.delete(commandId);
  }

  /** Fails every command waiting on `replica` (or on any, when undefined) with `control plane lost`. */
  failReplica(replica: string | undefined): number {
    let failed = 0;
    for (const [commandId, entry] of this.pending) {
      if (replica !== undefined && entry.replica !== replica) continue;
      this.pending.delete(commandId);
      entry.waiter.fail(entry.slot, CONTROL_PLANE_LOST);
      failed++;
    }
    return failed;
  }

  close(): void {
    this.results?.unsubscribe();
    this.failReplica(undefined);
  }

  private flush(): void {
    this.flushScheduled = false;
    const batches = [...this.outgoing.values()];
    this.outgoing = new Map();
    for (const batch of batches) this.sendBatch(batch);
  }

  /** Sends a job's commands for one replica: one NATS request, or several when they do not fit in one. */
  private sendBatch(batch: OutgoingBatch): void {
    const nats = this.nats();
    if (!nats) return this.failTargets(batch, batch.targets, "not connected to NATS");
    let parts: MessagePart<DispatchTarget>[];
    try {
      const response = fromBinary(ConnectResponseSchema, batch.frame);
      if (response.kind.case !== "command") throw new Error("not a command frame");
      const command: Command = { ...response.kind.value, id: "" };
      const message = (targets: DispatchTarget[]) =>
        toBinary(DispatchBatchSchema, create(DispatchBatchSchema, { originReplicaId: this.replicaId, jobId: batch.jobId, command, targets }));
      parts = splitMessage(batch.targets, message(batch.targets), message([]), targetEntry, maxPayload(nats));
    } catch (error) {
      return this.failTargets(batch, batch.targets, (error as Error).message);
    }
    for (const part of parts) void this.sendPart(nats, batch, part);
  }

  private async sendPart(nats: NatsConnection, batch: OutgoingBatch, part: MessagePart<DispatchTarget>): Promise<void> {
    try {
      await nats.request(subjects.dispatch(batch.replica), part.payload, { timeout: ACK_TIMEOUT_MS });
    } catch (error) {
      this.failTargets(batch, part.items, (error as Error).message);
    }
  }

  /** Nobody took these commands: they fail now, not at the job's timeout. */
  private failTargets(batch: OutgoingBatch, targets: readonly DispatchTarget[], why: string): void {
    this.logger.warn({ replica: batch.replica, jobId: batch.jobId, hosts: targets.length, err: why }, "replica did not take commands");
    for (const { commandId } of targets) {
      const entry = this.pending.get(commandId);
      if (!entry) continue;
      this.pending.delete(commandId);
      entry.waiter.fail(entry.slot, CONTROL_PLANE_LOST);
    }
  }

  private onResults(msg: Msg): void {
    let results: RemoteResult[];
    try {
      results = fromBinary(ResultBatchSchema, msg.data).results;
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, "undecodable result batch from a replica; ignored");
      return;
    }
    for (const { commandId, result, error } of results) {
      const entry = this.pending.get(commandId);
      if (!entry) continue; // timed out (forgotten) or already failed
      this.pending.delete(commandId);
      if (result) entry.waiter.settle(entry.slot, result);
      else entry.waiter.fail(entry.slot, error || CONTROL_PLANE_LOST);
    }
  }
}

/** Sends the answers for one DispatchBatch back to its origin replica. */
class RelayWaiter implements CommandWaiter {
  constructor(
    private readonly commandIds: readonly string[],
    private readonly outbox: ResultOutbox,
    private readonly origin: string,
  ) {}

  settle(slot: number, result: CommandResult): void {
    this.outbox.add(this.origin, { $typeName: "trustplane.cluster.v1.RemoteResult", commandId: this.commandIds[slot]!, result, error: "" });
  }

  fail(slot: number, error: string): void {
    this.outbox.add(this.origin, { $typeName: "trustplane.cluster.v1.RemoteResult", commandId: this.commandIds[slot]!, result: undefined, error });
  }
}

/** Results bound for other replicas, one ResultBatch per origin and turn. */
class ResultOutbox {
  private byOrigin = new Map<string, RemoteResult[]>();
  private scheduled = false;

  constructor(
    private readonly nats: () => NatsConnection | undefined,
    private readonly logger: Logger,
  ) {}

  add(origin: string, result: RemoteResult): void {
    let list = this.byOrigin.get(origin);
    if (!list) this.byOrigin.set(origin, (list = []));
    list.push(result);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const byOrigin = this.byOrigin;
    this.byOrigin = new Map();
    const nats = this.nats();
    if (!nats) return; // the origin fails them itself when it loses us or NATS
    for (const [origin, results] of byOrigin) {
      const whole = toBinary(ResultBatchSchema, create(ResultBatchSchema, { results }));
      for (const part of splitMessage(results, whole, NO_HEADER, resultEntry, maxPayload(nats))) {
        try {
          nats.publish(subjects.results(origin), part.payload);
        } catch (error) {
          // The origin's commands stay pending until their job's timeout; say why.
          this.logger.error({ origin, results: part.items.length, err: (error as Error).message }, "results for another replica not sent");
        }
      }
    }
  }
}

/** Takes DispatchBatches for the agents this replica holds. */
export class DispatchReceiver {
  private readonly outbox: ResultOutbox;
  private subscription: Subscription | undefined;

  constructor(
    private readonly replicaId: string,
    private readonly registry: AgentRegistry,
    private readonly nats: () => NatsConnection | undefined,
    private readonly logger: Logger,
  ) {
    this.outbox = new ResultOutbox(nats, logger);
  }

  listen(nats: NatsConnection): void {
    this.subscription = nats.subscribe(subjects.dispatch(this.replicaId), { callback: (error, msg) => !error && this.onBatch(msg) });
  }

  close(): void {
    this.subscription?.unsubscribe();
  }

  private onBatch(msg: Msg): void {
    let batch;
    try {
      batch = fromBinary(DispatchBatchSchema, msg.data);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, "undecodable dispatch batch from a replica; ignored");
      return;
    }
    msg.respond(toBinary(DispatchAckSchema, create(DispatchAckSchema, { accepted: batch.targets.length })));
    const commandIds = batch.targets.map((target) => target.commandId);
    const relay = new RelayWaiter(commandIds, this.outbox, batch.originReplicaId);
    const frames = new CommandFrames(batch.command ?? { kind: { case: undefined }, jobId: batch.jobId, dryRun: false });
    batch.targets.forEach(({ commandId, hostname }, slot) => {
      const record = this.registry.get(hostname);
      const link = record?.state === "online" ? record.link : undefined;
      if (!link || !link.dispatch(commandId, frames.frame(commandId), relay, slot)) {
        relay.fail(slot, record ? `agent offline (last seen ${new Date(record.lastSeen).toISOString()})` : "agent offline");
      }
    });
  }
}
