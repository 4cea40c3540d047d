// AgentService.Connect: join token, hello validation, registry state, heartbeats.
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConnectRequestSchema } from "../../gen/trustplane/v1/agent_pb.js";
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
  ])("ends a hello with %s with INVALID_ARGUMENT", async (_case, hello, message) => {
    const refused = agent({ joinToken: TEST_JOIN_TOKEN, ...hello });
    const final = await refused.status;
    expect(final.code).toBe(status.INVALID_ARGUMENT);
    expect(final.details).toMatch(message);
    expect(cp.controlPlane.registry.list()).toEqual([]);
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
