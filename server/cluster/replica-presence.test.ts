// Which replica holds which agent, between two presence books over a real nats-server
// whose max_payload is small (16 KiB), so a few hundred agents already need a FULL in
// parts: the peer sees every agent; changes travel as small DELTAs; a missed version
// makes the peer ask for a FULL; a replica restarted under the same id replaces its
// earlier set without being declared lost.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connect, type NatsConnection } from "nats";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { until as untilDeadline } from "../../test/harness/until.js";
import { PresenceKind, ReplicaPresenceSchema, SyncRequestSchema, type ReplicaPresence, type SyncRequest } from "../../gen/trustplane/cluster/v1/cluster_pb.js";
import { HelloSchema } from "../../gen/trustplane/v1/agent_pb.js";
import type { AgentLink } from "../agent-link.js";
import { AgentRegistry, type AgentRecord } from "../registry.js";
import { natsServerMissing, startNatsServer, type NatsServer } from "../testing/nats-server.js";
import { RemoteDispatcher } from "./remote-dispatch.js";
import { ReplicaPresenceBook } from "./replica-presence.js";
import { subjects } from "./subjects.js";

const missing = natsServerMissing();
const logger = pino({ level: "silent" });
const MAX_PAYLOAD = 16 * 1024;
const INTERVAL_MS = 1_000;
const IDENTITY = `certificate:${"ab".repeat(32)}`;
/** Within the test's own timeout, so that a failure names what did not happen. */
const until = (check: () => boolean, what: string) => untilDeadline(check, what, 10_000);

function link(): AgentLink {
  return { sessionId: "s", inFlight: 0, dispatch: () => true, forget: () => undefined, replace: () => undefined };
}

function attach(registry: AgentRegistry, hostname: string): AgentRecord {
  return registry.attach(
    create(HelloSchema, { hostname, agentVersion: "0.1.0", labels: { role: "web", rack: `rack-${hostname.length % 7}`, zone: "zone-a" } }),
    link(),
    IDENTITY,
  );
}

interface Replica {
  id: string;
  nats: NatsConnection;
  registry: AgentRegistry;
  book: ReplicaPresenceBook;
  lost: string[];
}

describe.skipIf(missing !== undefined)(`replica presence${missing ? ` (SKIPPED: ${missing})` : ""}`, () => {
  let server: NatsServer;
  let spy: NatsConnection;
  const presences: { at: number; presence: ReplicaPresence; bytes: number }[] = [];
  const syncs: SyncRequest[] = [];
  const started: Replica[] = [];

  async function startReplica(id: string, hostnames: string[]): Promise<Replica> {
    const nats = await connect({ servers: server.url });
    const registry = new AgentRegistry();
    for (const hostname of hostnames) attach(registry, hostname);
    const lost: string[] = [];
    const dispatcher = new RemoteDispatcher(id, () => nats, logger);
    const book = new ReplicaPresenceBook({ replicaId: id, registry, dispatcher, logger, intervalMs: INTERVAL_MS, onPeerLost: (peer) => lost.push(peer) });
    book.start(nats, `127.0.0.1:${7000 + started.length}`);
    const replica = { id, nats, registry, book, lost };
    started.push(replica);
    return replica;
  }

  /** What `replica` sees of its peer `peerId`: hostname → record. */
  function seen(replica: Replica, peerId: string): Map<string, AgentRecord> {
    const out = new Map<string, AgentRecord>();
    for (const agents of replica.book.peers()) for (const [hostname, record] of agents) if (record.replica === peerId) out.set(hostname, record);
    return out;
  }

  const from = (id: string, kind: PresenceKind, since = 0) => presences.filter((p) => p.at >= since && p.presence.replicaId === id && p.presence.kind === kind);

  beforeAll(async () => {
    server = await startNatsServer({ maxPayload: MAX_PAYLOAD });
    spy = await connect({ servers: server.url });
    let at = 0;
    spy.subscribe(subjects.presence, { callback: (_error, msg) => presences.push({ at: at++, presence: fromBinary(ReplicaPresenceSchema, msg.data), bytes: msg.data.length }) });
    spy.subscribe(subjects.sync, { callback: (_error, msg) => syncs.push(fromBinary(SyncRequestSchema, msg.data)) });
    await spy.flush();
  });

  afterEach(async () => {
    for (const replica of started.splice(0)) {
      replica.book.leave();
      await replica.nats.close();
    }
    presences.length = 0;
    syncs.length = 0;
  });

  afterAll(async () => {
    await spy?.close();
    await server?.stop();
  });

  it("sends a set too big for one NATS message as a FULL in parts; the peer sees every agent", async () => {
    const hostnames = Array.from({ length: 300 }, (_, i) => `web-${i}.fleet.example.test`);
    const b = await startReplica("replica-b", hostnames);
    const a = await startReplica("replica-a", []);
    await until(() => seen(a, "replica-b").size === 300, "replica-a sees replica-b's 300 agents");

    const full = from("replica-b", PresenceKind.FULL);
    const version = full[0]!.presence.version;
    const parts = full.filter((p) => p.presence.version === version);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts.every((p) => p.bytes <= MAX_PAYLOAD && p.presence.totalAgents === 300)).toBe(true);
    expect(parts.flatMap((p) => p.presence.agents.map((agent) => agent.hostname)).sort()).toEqual([...hostnames].sort());
    const record = seen(a, "replica-b").get("web-7.fleet.example.test")!;
    expect([record.state, record.replica, record.identity, record.labels.zone, record.agentVersion]).toEqual(["online", "replica-b", IDENTITY, "zone-a", "0.1.0"]);
    expect(seen(b, "replica-a").size).toBe(0);
    expect(a.lost).toEqual([]);
  });

  it("tells changes as DELTAs that carry only what changed", async () => {
    const b = await startReplica("replica-b", Array.from({ length: 300 }, (_, i) => `web-${i}.fleet.example.test`));
    const a = await startReplica("replica-a", []);
    await until(() => seen(a, "replica-b").size === 300, "replica-a sees replica-b's agents");
    const since = presences.length;

    attach(b.registry, "web-300.fleet.example.test");
    const leaving = b.registry.get("web-0.fleet.example.test")!;
    b.registry.detach(leaving, leaving.link!);
    await until(() => {
      const agents = seen(a, "replica-b");
      return agents.has("web-300.fleet.example.test") && !agents.has("web-0.fleet.example.test");
    }, "the change reached replica-a");

    const deltas = from("replica-b", PresenceKind.DELTA, since);
    expect(deltas.flatMap((d) => d.presence.agents.map((agent) => agent.hostname))).toEqual(["web-300.fleet.example.test"]);
    expect(deltas.flatMap((d) => d.presence.gone)).toEqual(["web-0.fleet.example.test"]);
    expect(deltas.every((d) => d.bytes < 1_024)).toBe(true);
    expect(seen(a, "replica-b").size).toBe(300);
  });

  it("asks the replica for a FULL when it misses a version, and never applies the DELTA beyond the gap", async () => {
    const b = await startReplica("replica-b", ["db-1", "db-2"]);
    const a = await startReplica("replica-a", []);
    await until(() => seen(a, "replica-b").size === 2, "replica-a sees replica-b's agents");
    const last = presences.filter((p) => p.presence.replicaId === "replica-b").at(-1)!.presence;
    const since = presences.length;

    // A DELTA two versions ahead: the one between was lost.
    const forged = create(ReplicaPresenceSchema, {
      replicaId: "replica-b",
      grpcAddress: last.grpcAddress,
      incarnation: last.incarnation,
      version: last.version + 2n,
      kind: PresenceKind.DELTA,
      agents: [{ hostname: "ghost-1", connectedUnixMs: BigInt(Date.now()), lastSeenUnixMs: BigInt(Date.now()), identity: IDENTITY }],
    });
    spy.publish(subjects.presence, toBinary(ReplicaPresenceSchema, forged));
    await until(() => syncs.some((s) => s.replicaId === "replica-a" && s.targetReplicaId === "replica-b"), "replica-a asks replica-b for a FULL");
    await until(() => from("replica-b", PresenceKind.FULL, since).length > 0, "replica-b answers with a FULL");
    attach(b.registry, "db-3");
    await until(() => seen(a, "replica-b").has("db-3"), "the next change is applied again");
    expect([...seen(a, "replica-b").keys()].sort()).toEqual(["db-1", "db-2", "db-3"]);
  });

  it("takes a replica restarted under the same id as itself: its earlier agents go, it is not declared lost", async () => {
    const b = await startReplica("replica-b", ["app-1", "app-2", "app-3"]);
    const a = await startReplica("replica-a", []);
    await until(() => seen(a, "replica-b").size === 3, "replica-a sees replica-b's agents");
    const incarnation = from("replica-b", PresenceKind.FULL).at(-1)!.presence.incarnation;

    // SIGKILL-like: no goodbye, then a new process under the same id within the silence limit.
    b.book.leave = () => undefined;
    await b.nats.close();
    const b2 = await startReplica("replica-b", ["app-3", "app-4"]);
    await until(() => [...seen(a, "replica-b").keys()].sort().join() === "app-3,app-4", "replica-a sees the restarted replica's agents only");
    expect(from("replica-b", PresenceKind.FULL).at(-1)!.presence.incarnation).not.toBe(incarnation);
    attach(b2.registry, "app-5");
    await until(() => seen(a, "replica-b").has("app-5"), "its DELTAs are applied");
    expect(a.lost).toEqual([]);
  });
});
