// A replica started while NATS is down: it comes up, answers UNAVAILABLE for the
// fleet with the reason, joins by itself once NATS answers, and then sees its peers'
// agents. Over a real nats-server that is stopped and started on the same port.
import { create } from "@bufbuild/protobuf";
import { status as GrpcStatus } from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../../test/harness/until.js";
import { StatusError } from "../../common/status-error.js";
import { HelloSchema } from "../../gen/trustplane/v1/agent_pb.js";
import type { AgentLink } from "../agent-link.js";
import { MemoryJobStore } from "../job-store/memory-job-store.js";
import { AgentRegistry } from "../registry.js";
import { natsServerMissing, startNatsServer, type NatsServer } from "../testing/nats-server.js";
import { ClusterNode } from "./cluster-node.js";

const missing = natsServerMissing();
const logger = pino({ level: "silent" });

function link(): AgentLink {
  return { sessionId: "s", inFlight: 0, dispatch: () => true, forget: () => undefined, replace: () => undefined };
}

function replica(id: string, natsUrl: string): { node: ClusterNode; registry: AgentRegistry } {
  const registry = new AgentRegistry();
  const node = new ClusterNode({ natsUrls: [natsUrl], replicaId: id, presenceIntervalMs: 500 }, { registry, store: new MemoryJobStore(), logger });
  return { node, registry };
}

/** The view answers UNAVAILABLE because an attempt to reach NATS failed. */
function cannotConnect(node: ClusterNode): boolean {
  const answer = fleet(node);
  return answer instanceof StatusError && answer.message.includes("cannot connect");
}

/** What the view answers: hostnames with their replica, or the error it throws. */
function fleet(node: ClusterNode): string[] | StatusError {
  try {
    return [...node.view.records()].map((record) => `${record.hostname}@${node.view.view(record)!.replica}`).sort();
  } catch (error) {
    return error as StatusError;
  }
}

describe.skipIf(missing !== undefined)(`cluster node${missing ? ` (SKIPPED: ${missing})` : ""}`, () => {
  let nats: NatsServer;
  const nodes: ClusterNode[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.leave()));
    await nats?.stop();
  });

  it("starts while NATS is down, answers UNAVAILABLE with the reason, and joins once NATS is back", async () => {
    const b = replica("replica-b", nats.url);
    nodes.push(b.node);
    b.registry.attach(create(HelloSchema, { hostname: "web-1" }), link(), "join-token");
    expect(b.node.start("127.0.0.1:7001")).toBe("replica-b");
    await b.node.joined;
    expect(fleet(b.node)).toEqual(["web-1@replica-b"]);

    await nats.stop();
    const a = replica("replica-a", nats.url);
    nodes.push(a.node);
    expect(a.node.start("127.0.0.1:7002")).toBe("replica-a");
    await until(() => cannotConnect(a.node), "the reason NATS is out of reach");
    const down = fleet(a.node) as StatusError;
    expect(down.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(down.message).toMatch(new RegExp(`^cluster unavailable: cannot connect to NATS at ${nats.url.replace(/\./g, "\\.")}`));

    await nats.start();
    await a.node.joined;
    await until(() => JSON.stringify(fleet(a.node)) === JSON.stringify(["web-1@replica-b"]), "replica-a sees replica-b's agent");
    a.registry.attach(create(HelloSchema, { hostname: "db-1" }), link(), "join-token");
    await until(() => JSON.stringify(fleet(b.node)) === JSON.stringify(["db-1@replica-a", "web-1@replica-b"]), "replica-b sees replica-a's agent");
  });

  it("stops joining when it is closed before NATS answers", async () => {
    await nats.stop();
    const c = replica("replica-c", nats.url);
    c.node.start("127.0.0.1:7003");
    await until(() => cannotConnect(c.node), "an attempt failed");
    await c.node.leave();
    await c.node.joined;
    await nats.start();
    expect(fleet(c.node)).toBeInstanceOf(StatusError);
  });
});
