// Commands to agents on another replica and their answers, over a real nats-server
// (max_payload 16 KiB, so that a few hundred hosts outgrow one message): one NATS
// message per replica and job, or parts of one when it would not fit, results back
// to the waiter, and `control plane lost` at once when nobody takes the batch or the
// replica is lost.
import { create, fromBinary } from "@bufbuild/protobuf";
import { connect, type NatsConnection } from "nats";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../../test/harness/until.js";
import { DispatchBatchSchema } from "../../gen/trustplane/cluster/v1/cluster_pb.js";
import { CommandResultSchema, CommandSchema, HelloSchema, ListCACommandSchema, type CommandResult } from "../../gen/trustplane/v1/agent_pb.js";
import { ResultStatus } from "../../gen/trustplane/v1/common_pb.js";
import type { AgentLink, CommandWaiter } from "../agent-link.js";
import { CommandFrames } from "../command-frames.js";
import { AgentRegistry } from "../registry.js";
import { natsServerMissing, startNatsServer, type NatsServer } from "../testing/nats-server.js";
import { CONTROL_PLANE_LOST, DispatchReceiver, RemoteDispatcher } from "./remote-dispatch.js";
import { subjects } from "./subjects.js";

const missing = natsServerMissing();
const logger = pino({ level: "silent" });
const MAX_PAYLOAD = 16 * 1024;

/** A local agent stream that answers every command with OK, echoing the command id. */
class AnsweringLink implements AgentLink {
  readonly sessionId = "local";
  readonly inFlight = 0;
  readonly frames: Uint8Array[] = [];
  dispatch(commandId: string, frame: Uint8Array, waiter: CommandWaiter, slot: number): boolean {
    this.frames.push(frame);
    queueMicrotask(() => waiter.settle(slot, create(CommandResultSchema, { commandId, status: ResultStatus.OK, changed: true })));
    return true;
  }
  forget(): void {}
  replace(): void {}
}

function listFrames(jobId: string): CommandFrames {
  return new CommandFrames(create(CommandSchema, { jobId, kind: { case: "listCa", value: create(ListCACommandSchema) } }));
}

class RecordingWaiter implements CommandWaiter {
  readonly settled = new Map<number, CommandResult>();
  readonly failed = new Map<number, string>();
  settle(slot: number, result: CommandResult): void {
    this.settled.set(slot, result);
  }
  fail(slot: number, error: string): void {
    this.failed.set(slot, error);
  }
}

describe.skipIf(missing !== undefined)(`remote dispatch${missing ? ` (SKIPPED: ${missing})` : ""}`, () => {
  let server: NatsServer;
  let origin: NatsConnection;
  let holder: NatsConnection;
  let spy: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer({ maxPayload: MAX_PAYLOAD });
    origin = await connect({ servers: server.url });
    holder = await connect({ servers: server.url });
    spy = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await Promise.all([origin, holder, spy].map((connection) => connection?.close()));
    await server?.stop();
  });

  /** Replica `holderId` taking batches for `registry`'s agents, and replica `originId` sending them; the batches as sent. */
  async function replicas(holderId: string, originId: string, registry: AgentRegistry) {
    const receiver = new DispatchReceiver(holderId, registry, () => holder, logger);
    receiver.listen(holder);
    const batches: Uint8Array[] = [];
    spy.subscribe(subjects.dispatch(holderId), { callback: (_error, msg) => batches.push(msg.data) });
    const dispatcher = new RemoteDispatcher(originId, () => origin, logger);
    dispatcher.listen(origin);
    await Promise.all([holder.flush(), spy.flush(), origin.flush()]);
    const close = () => {
      receiver.close();
      dispatcher.close();
    };
    return { dispatcher, batches, close };
  }

  it("sends one batch per replica and job, the command once, and settles each host's answer", async () => {
    const registry = new AgentRegistry();
    const links = ["web-1", "web-2", "web-3"].map((hostname) => {
      const link = new AnsweringLink();
      registry.attach(create(HelloSchema, { hostname }), link, "join-token");
      return link;
    });
    const { dispatcher, batches, close } = await replicas("replica-b", "replica-a", registry);
    const frames = listFrames("job-1");
    const waiter = new RecordingWaiter();
    ["web-1", "web-2", "web-3", "gone-1"].forEach((hostname, slot) => {
      const commandId = `job-1/${hostname}`;
      expect(dispatcher.send("replica-b", hostname, commandId, frames.frame(commandId), waiter, slot)).toBe(true);
    });
    await until(() => waiter.settled.size + waiter.failed.size === 4, "four answers");

    expect(batches).toHaveLength(1);
    const batch = fromBinary(DispatchBatchSchema, batches[0]!);
    expect([batch.originReplicaId, batch.jobId, batch.command?.id, batch.command?.kind.case]).toEqual(["replica-a", "job-1", "", "listCa"]);
    expect(batch.targets.map((target) => [target.commandId, target.hostname])).toEqual([
      ["job-1/web-1", "web-1"],
      ["job-1/web-2", "web-2"],
      ["job-1/web-3", "web-3"],
      ["job-1/gone-1", "gone-1"],
    ]);
    expect([...waiter.settled].map(([slot, result]) => [slot, result.commandId, result.status]).sort()).toEqual([
      [0, "job-1/web-1", ResultStatus.OK],
      [1, "job-1/web-2", ResultStatus.OK],
      [2, "job-1/web-3", ResultStatus.OK],
    ]);
    expect([...waiter.failed]).toEqual([[3, "agent offline"]]);
    expect(links.map((link) => link.frames.length)).toEqual([1, 1, 1]);
    expect(dispatcher.inFlight).toBe(0);
    close();
  });

  it("sends a batch too big for one NATS message in parts, each with the command, and every host's answer comes back", async () => {
    const registry = new AgentRegistry();
    const hostnames = Array.from({ length: 600 }, (_, i) => `node-${i}.rack-${i % 12}.fleet.example.test`);
    for (const hostname of hostnames) registry.attach(create(HelloSchema, { hostname }), new AnsweringLink(), "join-token");
    const resultBatches: Uint8Array[] = [];
    spy.subscribe(subjects.results("replica-f"), { callback: (_error, msg) => resultBatches.push(msg.data) });
    const { dispatcher, batches, close } = await replicas("replica-e", "replica-f", registry);
    const frames = listFrames("job-big");
    const waiter = new RecordingWaiter();
    hostnames.forEach((hostname, slot) => {
      const commandId = `job-big/${hostname}`;
      dispatcher.send("replica-e", hostname, commandId, frames.frame(commandId), waiter, slot);
    });
    await until(() => waiter.settled.size + waiter.failed.size === hostnames.length, "every host answered");

    expect([...waiter.failed]).toEqual([]);
    expect([...waiter.settled].every(([slot, result]) => result.commandId === `job-big/${hostnames[slot]}` && result.status === ResultStatus.OK)).toBe(true);
    expect(batches.length).toBeGreaterThanOrEqual(3);
    expect(batches.every((payload) => payload.length <= MAX_PAYLOAD)).toBe(true);
    const decoded = batches.map((payload) => fromBinary(DispatchBatchSchema, payload));
    expect(decoded.every((batch) => batch.jobId === "job-big" && batch.command?.kind.case === "listCa")).toBe(true);
    expect(decoded.flatMap((batch) => batch.targets.map((target) => target.hostname))).toEqual(hostnames);
    await until(() => resultBatches.length >= 2, "results came back in parts");
    expect(resultBatches.every((payload) => payload.length <= MAX_PAYLOAD)).toBe(true);
    expect(dispatcher.inFlight).toBe(0);
    close();
  });

  it("fails the hosts at once with `control plane lost` when no replica takes the batch", async () => {
    const dispatcher = new RemoteDispatcher("replica-a", () => origin, logger);
    const waiter = new RecordingWaiter();
    const frames = listFrames("job-2");
    dispatcher.send("replica-gone", "web-9", "job-2/web-9", frames.frame("job-2/web-9"), waiter, 0);
    await until(() => waiter.failed.size === 1, "the host failed");
    expect([...waiter.failed]).toEqual([[0, CONTROL_PLANE_LOST]]);
    dispatcher.close();
  });

  it("fails what waits on a lost replica, and ignores its late answers", async () => {
    const dispatcher = new RemoteDispatcher("replica-a", () => origin, logger);
    dispatcher.listen(origin);
    // A replica that acks but never answers.
    const silent = holder.subscribe(subjects.dispatch("replica-c"), { callback: (_error, msg) => msg.respond(new Uint8Array()) });
    await holder.flush();
    const waiter = new RecordingWaiter();
    const frames = listFrames("job-3");
    dispatcher.send("replica-c", "db-1", "job-3/db-1", frames.frame("job-3/db-1"), waiter, 0);
    dispatcher.send("replica-d", "db-2", "job-3/db-2", frames.frame("job-3/db-2"), new RecordingWaiter(), 0);
    await until(() => dispatcher.inFlight === 1, "the batch to replica-d failed, replica-c's taken");
    expect(dispatcher.failReplica("replica-c")).toBe(1);
    expect([...waiter.failed]).toEqual([[0, CONTROL_PLANE_LOST]]);
    expect(dispatcher.inFlight).toBe(0);
    silent.unsubscribe();
    dispatcher.close();
  });
});
