import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { StatusError } from "../common/status-error.js";
import { HelloSchema } from "../gen/trustplane/v1/agent_pb.js";
import type { AgentLink } from "./agent-link.js";
import { AgentRegistry } from "./registry.js";
import { Router } from "./router.js";
import { parseTarget } from "./target.js";

function link(inFlight = 0): AgentLink & { replaced: number } {
  return {
    sessionId: "s",
    inFlight,
    replaced: 0,
    dispatch: () => true,
    forget: () => undefined,
    replace() {
      this.replaced++;
    },
  };
}

interface AgentRow {
  hostname: string;
  labels?: Record<string, string>;
  online?: boolean;
  inFlight?: number;
}

function fleet(rows: AgentRow[]): { registry: AgentRegistry; router: Router } {
  const registry = new AgentRegistry();
  for (const row of rows) {
    const agentLink = link(row.inFlight);
    const record = registry.attach(create(HelloSchema, { hostname: row.hostname, labels: row.labels ?? {} }), agentLink, "join-token");
    if (row.online === false) registry.detach(record, agentLink);
  }
  return { registry, router: new Router(registry) };
}

const FLEET: AgentRow[] = [
  { hostname: "prod-1", labels: { env: "prod", group: "web.dev.us-east" } },
  { hostname: "prod-2", labels: { env: "prod", group: "db" } },
  { hostname: "dev-1", labels: { env: "dev", group: "web" } },
  { hostname: "dev-2", labels: { env: "dev", group: "webserver" }, online: false },
];

describe("Router.resolve", () => {
  it.each<[string, string[]]>([
    ["prod-1", ["prod-1"]],
    ["PROD-1", ["prod-1"]],
    ["dev-2", ["dev-2"]],
    ["_all", ["dev-1", "dev-2", "prod-1", "prod-2"]],
    ["env:prod", ["prod-1", "prod-2"]],
    ["env:dev", ["dev-1", "dev-2"]],
    ["group:web", ["dev-1", "prod-1"]],
    ["group:web.dev", ["prod-1"]],
    ["group:webserver", ["dev-2"]],
    ["env:prod,group:web", ["prod-1"]],
    ["env:dev,group:web", ["dev-1"]],
  ])("%s → %j", (target, hostnames) => {
    const { router } = fleet(FLEET);
    expect(router.resolveText(target).map((agent) => agent.hostname)).toEqual(hostnames);
  });

  it.each<[string, AgentRow[], string]>([
    ["nope-1", FLEET, 'target agent "nope-1" not found'],
    ["env:nope", FLEET, 'no agent matches target "env:nope"'],
    ["env:prod,group:webserver", FLEET, 'no agent matches target "env:prod,group:webserver"'],
    ["group:we", FLEET, 'no agent matches target "group:we"'],
    ["_all", [], 'no agent matches target "_all"'],
    ["_any", [], 'no agent online for target "_any"'],
    ["_any", [{ hostname: "off-1", online: false }], 'no agent online for target "_any"'],
    ["env:pr*d", FLEET, 'invalid target "env:pr*d"'],
  ])("%s in a fleet of %# refuses: %s", (target, rows, message) => {
    const { router } = fleet(rows);
    let thrown: unknown;
    try {
      router.resolveText(target);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StatusError);
    expect((thrown as StatusError).code).toBe(status.INVALID_ARGUMENT);
    expect((thrown as StatusError).message).toContain(message);
  });

  it("_any picks the least busy online agent", () => {
    const { router } = fleet([
      { hostname: "a-1", inFlight: 3 },
      { hostname: "b-1", inFlight: 1 },
      { hostname: "c-1", inFlight: 0, online: false },
      { hostname: "d-1", inFlight: 2 },
    ]);
    expect([1, 2, 3].map(() => router.resolveText("_any").map((agent) => agent.hostname))).toEqual([["b-1"], ["b-1"], ["b-1"]]);
  });

  it("_any goes round-robin among equally busy agents", () => {
    const { router } = fleet([{ hostname: "c-1" }, { hostname: "a-1" }, { hostname: "b-1" }, { hostname: "z-1", inFlight: 1 }]);
    expect(Array.from({ length: 6 }, () => router.resolveText("_any")[0]!.hostname)).toEqual(["a-1", "b-1", "c-1", "a-1", "b-1", "c-1"]);
  });
});

describe("AgentRegistry", () => {
  it("an agent offline longer than the stale age stays known but leaves _all and selectors", () => {
    let now = 1_000_000;
    const registry = new AgentRegistry({ staleAgentMs: 60_000, now: () => now });
    const router = new Router(registry);
    const oldLink = link();
    const old = registry.attach(create(HelloSchema, { hostname: "old-1", labels: { env: "prod" } }), oldLink, "join-token");
    registry.attach(create(HelloSchema, { hostname: "new-1", labels: { env: "prod" } }), link(), "join-token");
    registry.detach(old, oldLink);
    now += 60_000;
    expect(registry.view("old-1")).toMatchObject({ state: "offline", stale: false });
    expect(router.resolveText("_all").map((agent) => agent.hostname)).toEqual(["new-1", "old-1"]);
    now += 1;
    expect(registry.view("old-1")).toMatchObject({ state: "offline", stale: true, lastSeen: new Date(1_000_000) });
    expect(registry.list().map((view) => [view.hostname, view.stale])).toEqual([
      ["new-1", false],
      ["old-1", true],
    ]);
    expect(router.resolveText("_all").map((agent) => agent.hostname)).toEqual(["new-1"]);
    expect(router.resolveText("env:prod").map((agent) => agent.hostname)).toEqual(["new-1"]);
    expect(router.resolveText("old-1").map((agent) => agent.hostname)).toEqual(["old-1"]);
    expect(router.matching(parseTarget("_all")).map((agent) => agent.hostname)).toEqual(["new-1"]);
    expect(router.matching(parseTarget("old-1")).map((agent) => agent.hostname)).toEqual(["old-1"]);
  });

  it("a selector matching only stale agents refuses like one matching nothing", () => {
    let now = 0;
    const registry = new AgentRegistry({ staleAgentMs: 10, now: () => now });
    const agentLink = link();
    registry.detach(registry.attach(create(HelloSchema, { hostname: "gone-1", labels: { env: "gone" } }), agentLink, "join-token"), agentLink);
    now = 11;
    expect(() => new Router(registry).resolveText("env:gone")).toThrow('no agent matches target "env:gone"');
    expect(() => new Router(registry).resolveText("_all")).toThrow('no agent matches target "_all"');
  });

  it("loads known agents as offline, keeps hostnames already present, forgets only offline agents", () => {
    const registry = new AgentRegistry({ now: () => 5_000 });
    registry.attach(create(HelloSchema, { hostname: "live-1", labels: { env: "a" } }), link(), "join-token");
    registry.load([
      { hostname: "down-1", labels: { env: "b" }, os: undefined, agentVersion: "0.9", connectedAt: new Date(1_000), lastSeenAt: new Date(2_000) },
      { hostname: "live-1", labels: { env: "old" }, os: undefined, agentVersion: "0.1", connectedAt: new Date(1), lastSeenAt: new Date(2) },
    ]);
    expect(registry.list().map((view) => [view.hostname, view.state, view.labels, view.lastSeen.getTime()])).toEqual([
      ["down-1", "offline", { env: "b" }, 2_000],
      ["live-1", "online", { env: "a" }, 5_000],
    ]);
    expect(registry.forget("live-1")).toBe(false);
    expect(registry.forget("nope-1")).toBe(false);
    expect(registry.forget("DOWN-1")).toBe(true);
    expect(registry.view("down-1")).toBeUndefined();
  });

  it("records hello and disconnect at once, and last-seen times at most once per interval", () => {
    let now = 0;
    const recorded: [string, string, number][] = [];
    const registry = new AgentRegistry({
      now: () => now,
      seenWriteIntervalMs: 1_000,
      recorder: { recordAgent: (agent) => recorded.push([agent.hostname, agent.labels.env ?? "", agent.lastSeenAt.getTime()]) },
    });
    const agentLink = link();
    const record = registry.attach(create(HelloSchema, { hostname: "beat-1", labels: { env: "x" } }), agentLink, "join-token");
    for (now = 100; now <= 2_500; now += 100) registry.touch(record);
    registry.detach(record, agentLink);
    expect(recorded).toEqual([
      ["beat-1", "x", 0],
      ["beat-1", "x", 1_000],
      ["beat-1", "x", 2_000],
      ["beat-1", "x", 2_600],
    ]);
    expect(registry.view("beat-1")?.lastSeen.getTime()).toBe(2_600);
  });

  it("a second stream with the same identity replaces the first; the first's end does not mark it offline", () => {
    const registry = new AgentRegistry();
    const first = link();
    const second = link();
    const record = registry.attach(create(HelloSchema, { hostname: "twice-1", labels: { env: "a" } }), first, "join-token");
    const again = registry.attach(create(HelloSchema, { hostname: "twice-1", labels: { env: "b" } }), second, "join-token");
    expect(again).toBe(record);
    expect(first.replaced).toBe(1);
    registry.detach(record, first);
    expect(registry.view("twice-1")).toMatchObject({ state: "online", labels: { env: "b" } });
  });

  it("in a cluster, a hostname online at another replica is refused to another identity, taken by the same one", () => {
    const elsewhere = { hostname: "moved-1", identity: "cert:moved-1", replica: "replica-b" };
    const registry = new AgentRegistry({ heldElsewhere: (hostname) => (hostname === "moved-1" ? (elsewhere as never) : undefined) });
    expect(() => registry.attach(create(HelloSchema, { hostname: "moved-1" }), link(), "cert:impostor")).toThrow(
      expect.objectContaining({ code: status.ALREADY_EXISTS, message: 'agent "moved-1" is already connected to replica replica-b with another identity' }),
    );
    expect(registry.get("moved-1")).toBeUndefined();
    expect(registry.attach(create(HelloSchema, { hostname: "moved-1" }), link(), "cert:moved-1").state).toBe("online");
  });

  it("a second stream with another identity is refused while the first is online", () => {
    const registry = new AgentRegistry();
    const first = link();
    registry.attach(create(HelloSchema, { hostname: "host-1" }), first, "cert:host-1");
    expect(() => registry.attach(create(HelloSchema, { hostname: "host-1" }), link(), "cert:other")).toThrow(
      expect.objectContaining({ code: status.ALREADY_EXISTS, message: 'agent "host-1" is already connected with another identity' }),
    );
    expect(first.replaced).toBe(0);
  });
});
