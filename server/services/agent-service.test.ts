// AgentService.Connect: join token (and its rotation), hello validation, registry
// state, heartbeats, message size and rate limits, liveness of silent agents.
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConnectRequestSchema } from "../../gen/trustplane/v1/agent_pb.js";
import { InstallCARequestSchema, ListCARequestSchema } from "../../gen/trustplane/v1/certificate_pb.js";
import { ResultStatus } from "../../gen/trustplane/v1/common_pb.js";
import { UploadRequestSchema } from "../../gen/trustplane/v1/file_pb.js";
import { makeCa } from "../../test/fixtures/pki.js";
import { MAX_AGENT_MESSAGE_BYTES, MAX_HELLO_BYTES } from "../agent-messages.js";
import { rotateJoinToken } from "../auth/join-token.js";
import { certificateClient, fileClient, streamJob, unary } from "../testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane } from "../testing/control-plane-fixture.js";
import { FakeAgent } from "../testing/fake-agent.js";

let cp: TestControlPlane;
const agents: FakeAgent[] = [];

function agent(options: ConstructorParameters<typeof FakeAgent>[1]): FakeAgent {
  const created = new FakeAgent(cp.address, options);
  agents.push(created);
  return created;
}

beforeEach(async () => {
  cp = await startTestControlPlane({ heartbeatIntervalMs: 2500 });
});

afterEach(async () => {
  for (const created of agents.splice(0)) created.close();
  await cp.close();
});

describe("AgentService.Connect", () => {
  it.each([
    ["no join token", undefined, "join token required"],
    ["an empty join token", "", "join token required"],
    ["a wrong join token", "wrong-token", "invalid join token"],
  ])("ends a stream with %s with UNAUTHENTICATED and registers nothing", async (_case, joinToken, message) => {
    const refused = agent({ hostname: "intruder-1", joinToken });
    const final = await refused.status;
    expect({ code: final.code, details: final.details }).toEqual({ code: status.UNAUTHENTICATED, details: message });
    expect(cp.controlPlane.registry.list()).toEqual([]);
  });

  it.each([
    ["a bad hostname", { hostname: "bad_host!" }, /^invalid hello: hostname "bad_host!" is not a valid RFC 1123 host name/],
    ["a hostname over 253 characters", { hostname: `${"a".repeat(60)}.`.repeat(5) + "a" }, /^invalid hello: hostname/],
    ["a bad label key", { hostname: "ok-1", labels: { "bad key": "x" } }, /^invalid hello: label key "bad key" must match/],
    ["a bad label value", { hostname: "ok-1", labels: { env: "pr*d" } }, /^invalid hello: label "env" value "pr\*d" must be/],
    ["too many labels", { hostname: "ok-1", labels: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) }, /^invalid hello: at most 16 labels, got 17$/],
    ["a label key of 64 characters", { hostname: "ok-1", labels: { ["k".repeat(64)]: "v" } }, /^invalid hello: label key "k{64}" must match/],
    ["a label value of 64 characters", { hostname: "ok-1", labels: { env: "v".repeat(64) } }, /^invalid hello: label "env" value "v{64}" must be .* at most 63 characters$/],
  ])("ends a hello with %s with INVALID_ARGUMENT", async (_case, hello, message) => {
    const refused = agent({ joinToken: TEST_JOIN_TOKEN, ...hello });
    const final = await refused.status;
    expect(final.code).toBe(status.INVALID_ARGUMENT);
    expect(final.details).toMatch(message);
    expect(cp.controlPlane.registry.list()).toEqual([]);
  });

  it("accepts 16 labels with keys and values of 63 characters and a hostname of 253", async () => {
    const hostname = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    expect(hostname).toHaveLength(253);
    const labels = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`${i}`.padStart(63, "k"), "v".repeat(63)]));
    await agent({ hostname, joinToken: TEST_JOIN_TOKEN, labels }).welcome;
    expect(cp.controlPlane.registry.view(hostname)?.labels).toEqual(labels);
  });

  it("ends a stream whose first message is not hello with INVALID_ARGUMENT", async () => {
    const rude = agent({ hostname: "rude-1", joinToken: TEST_JOIN_TOKEN, skipHello: true });
    rude.send(create(ConnectRequestSchema, { kind: { case: "heartbeat", value: { sentUnixMs: 1n } } }));
    const final = await rude.status;
    expect({ code: final.code, details: final.details }).toEqual({ code: status.INVALID_ARGUMENT, details: "the first message must be hello" });
  });

  it("welcomes a valid agent, lists it online with its facts, answers heartbeats, and keeps it known once offline", async () => {
    const before = Date.now();
    const good = agent({ hostname: "Node-1", joinToken: TEST_JOIN_TOKEN, labels: { env: "prod", group: "web.dev" } });
    const welcome = await good.welcome;
    expect(welcome.heartbeatIntervalMs).toBe(2500);
    expect(welcome.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    await good.roundTrip();

    const [view] = cp.controlPlane.registry.list();
    expect(view).toMatchObject({
      hostname: "node-1",
      labels: { env: "prod", group: "web.dev" },
      agentVersion: "test",
      state: "online",
      inFlight: 0,
    });
    expect(view!.os?.id).toBe("debian");
    expect(view!.connectedAt.getTime()).toBeGreaterThanOrEqual(before);

    good.end();
    expect((await good.status).code).toBe(status.OK);
    const offline = await cp.controlPlane.registry.whenOffline("node-1");
    expect(offline.state).toBe("offline");
    expect(offline.lastSeen.getTime()).toBeGreaterThanOrEqual(view!.connectedAt.getTime());
    expect(cp.controlPlane.registry.list().map((v) => [v.hostname, v.state])).toEqual([["node-1", "offline"]]);
  });

  it("accepts a join token file holding sha256:<hex> of the token", async () => {
    await cp.close();
    const digest = createHash("sha256").update(TEST_JOIN_TOKEN).digest("hex");
    cp = await startTestControlPlane({ joinTokenFileContent: `sha256:${digest}` });
    const good = agent({ hostname: "hashed-1", joinToken: TEST_JOIN_TOKEN });
    await good.welcome;
    const hashItself = agent({ hostname: "hashed-2", joinToken: `sha256:${digest}` });
    expect((await hashItself.status).code).toBe(status.UNAUTHENTICATED);
  });
});

describe("AgentService.Connect limits", () => {
  it("ends a stream whose hello is over 16 KiB with INVALID_ARGUMENT `hello too large`", async () => {
    const big = agent({ hostname: "big-1", joinToken: TEST_JOIN_TOKEN, skipHello: true });
    big.send(
      create(ConnectRequestSchema, {
        kind: { case: "hello", value: { hostname: "big-1", agentVersion: "v".repeat(MAX_HELLO_BYTES), os: { id: "debian" } } },
      }),
    );
    const final = await big.status;
    expect({ code: final.code, details: final.details }).toEqual({ code: status.INVALID_ARGUMENT, details: "hello too large" });
    expect(cp.controlPlane.registry.list()).toEqual([]);
  });

  it("ends a stream that sends a message over 512 KiB with RESOURCE_EXHAUSTED; the agent goes offline", async () => {
    const big = agent({ hostname: "big-2", joinToken: TEST_JOIN_TOKEN });
    await big.welcome;
    big.send(create(ConnectRequestSchema, { kind: { case: "result", value: { commandId: "x", error: "e".repeat(MAX_AGENT_MESSAGE_BYTES) } } }));
    const final = await big.status;
    expect({ code: final.code, details: final.details }).toEqual({ code: status.RESOURCE_EXHAUSTED, details: "agent message too large" });
    expect((await cp.controlPlane.registry.whenOffline("big-2")).state).toBe("offline");
  });

  it("disconnects an agent flooding heartbeats with RESOURCE_EXHAUSTED; another agent is unaffected", async () => {
    await cp.close();
    cp = await startTestControlPlane({ agentMessageRate: { perSecond: 10, burst: 20 } });
    const calm = agent({ hostname: "calm-1", joinToken: TEST_JOIN_TOKEN });
    const flood = agent({ hostname: "flood-1", joinToken: TEST_JOIN_TOKEN });
    await Promise.all([calm.welcome, flood.welcome]);
    for (let i = 0; i < 200; i++) flood.heartbeat();
    const final = await flood.status;
    expect({ code: final.code, details: final.details }).toEqual({ code: status.RESOURCE_EXHAUSTED, details: "agent sent too many messages" });
    expect((await cp.controlPlane.registry.whenOffline("flood-1")).state).toBe("offline");
    await calm.roundTrip();
    expect(cp.controlPlane.registry.view("calm-1")?.state).toBe("online");
  });

  it("does not count answers to commands it sent against an agent's message budget", async () => {
    await cp.close();
    cp = await startTestControlPlane({ agentMessageRate: { perSecond: 0.001, burst: 2 } });
    const busy = agent({ hostname: "busy-1", joinToken: TEST_JOIN_TOKEN, autoAnswer: () => ({ status: ResultStatus.OK }) });
    await busy.welcome;
    const certificates = certificateClient(cp.address);
    try {
      const jobs = await Promise.all(
        Array.from({ length: 6 }, () => streamJob(certificates, "listCA", create(ListCARequestSchema, { target: "busy-1" }), cp.keys.read)),
      );
      expect(jobs.map((job) => [job.error, job.events.filter((event) => event.event.case === "result").length])).toEqual(
        Array.from({ length: 6 }, () => [undefined, 1]),
      );
      // The hello took one token: one more message is allowed, the next is one too many.
      await busy.roundTrip();
      expect(cp.controlPlane.registry.view("busy-1")?.state).toBe("online");
      busy.heartbeat();
      expect((await busy.status).code).toBe(status.RESOURCE_EXHAUSTED);
    } finally {
      certificates.close();
    }
  });
});

describe("AgentService liveness", () => {
  it("marks an agent that stops sending heartbeats offline within 2.5 intervals and fails its command at once", async () => {
    await cp.close();
    cp = await startTestControlPlane({ heartbeatIntervalMs: 200 });
    const files = fileClient(cp.address);
    const certificates = certificateClient(cp.address);
    try {
      await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(makeCa().certPem) }), cp.keys.write);
      const alive = agent({ hostname: "alive-1", joinToken: TEST_JOIN_TOKEN });
      const stopped = agent({ hostname: "stopped-1", joinToken: TEST_JOIN_TOKEN, heartbeats: false });
      await Promise.all([alive.welcome, stopped.welcome]);
      const started = Date.now();
      const job = streamJob(
        certificates,
        "installCA",
        create(InstallCARequestSchema, { target: "stopped-1", name: "ca", object: "ca.pem", options: { timeoutSeconds: 60 } }),
        cp.keys.write,
      );
      await stopped.nextCommand();
      const { events, error } = await job;
      expect(error).toBeUndefined();
      const results = events.flatMap((event) => (event.event.case === "result" ? [event.event.value] : []));
      expect(results.map((result) => [result.hostname, result.status, result.error])).toEqual([["stopped-1", ResultStatus.FAILED, "agent disconnected"]]);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(cp.controlPlane.registry.view("stopped-1")?.state).toBe("offline");
      const final = await stopped.status;
      expect({ code: final.code, details: final.details }).toEqual({ code: status.UNAVAILABLE, details: "agent silent for too long" });
      // The agent that kept sending heartbeats through the same time is still online.
      await alive.roundTrip();
      expect(cp.controlPlane.registry.view("alive-1")?.state).toBe("online");
    } finally {
      files.close();
      certificates.close();
    }
  });
});

describe("join token rotation", () => {
  it("takes effect without a restart: connected agents stay, new streams need the new token", async () => {
    const before = agent({ hostname: "before-1", joinToken: TEST_JOIN_TOKEN });
    await before.welcome;
    const rotated = await rotateJoinToken(join(cp.dir, "join-token"), { storeHash: true });

    const stale = agent({ hostname: "stale-1", joinToken: TEST_JOIN_TOKEN });
    const final = await stale.status;
    expect({ code: final.code, details: final.details }).toEqual({ code: status.UNAUTHENTICATED, details: "invalid join token" });
    await agent({ hostname: "after-1", joinToken: rotated }).welcome;
    await before.roundTrip();
    expect(cp.controlPlane.registry.list().map((view) => [view.hostname, view.state])).toEqual([
      ["after-1", "online"],
      ["before-1", "online"],
    ]);
  });
});

describe("failed agent authentication", () => {
  it("is logged at warn with the peer address, once per address per window", async () => {
    await cp.close();
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString("utf8").split("\n")) if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    cp = await startTestControlPlane({ logger: pino({ level: "warn" }, sink) });
    for (const joinToken of [undefined, "wrong-1", "wrong-2"]) {
      const refused = agent({ hostname: "intruder-1", joinToken });
      expect((await refused.status).code).toBe(status.UNAUTHENTICATED);
    }
    const failures = lines.filter((line) => line.msg === "authentication failed");
    expect(failures).toEqual([
      expect.objectContaining({ level: 40, method: "/trustplane.v1.AgentService/Connect", reason: "join token required", suppressed: 0 }),
    ]);
    expect(failures[0]!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(JSON.stringify(lines)).not.toContain("wrong-");
  });
});
