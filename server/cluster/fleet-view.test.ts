// The fleet-wide directory: local registry merged with peers' agents.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { unavailable, type StatusError } from "../../common/status-error.js";
import { HelloSchema } from "../../gen/trustplane/v1/agent_pb.js";
import type { AgentLink } from "../agent-link.js";
import { AgentRegistry, type AgentRecord } from "../registry.js";
import { FleetView } from "./fleet-view.js";

function link(inFlight = 0): AgentLink {
  return { sessionId: "s", inFlight, dispatch: () => true, forget: () => undefined, replace: () => undefined };
}

function remote(hostname: string, replica: string, connectedAt: number, labels: Record<string, string> = {}): AgentRecord {
  return { hostname, labels, os: undefined, agentVersion: "1", state: "online", connectedAt, lastSeen: connectedAt, link: link(), identity: "join-token", savedSeen: 0, replica };
}

function setup(now: number) {
  const registry = new AgentRegistry({ now: () => now });
  const peers = new Map<string, Map<string, AgentRecord>>();
  let down: StatusError | undefined;
  const view = new FleetView(registry, { peers: () => peers.values() }, () => "replica-a", () => down);
  return { registry, peers, view, setDown: (error: StatusError | undefined) => (down = error) };
}

describe("FleetView", () => {
  it("lists local and remote agents once each, with the replica that holds each", () => {
    const { registry, peers, view } = setup(1_000);
    registry.attach(create(HelloSchema, { hostname: "web-1", labels: { role: "web" } }), link(), "join-token");
    registry.load([{ hostname: "old-1", labels: {}, os: undefined, agentVersion: "1", connectedAt: new Date(10), lastSeenAt: new Date(20) }]);
    peers.set("replica-b", new Map([["db-1", remote("db-1", "replica-b", 900)]]));
    const listed = [...view.records()].map((record) => view.view(record)!).map((v) => [v.hostname, v.state, v.replica]);
    expect(listed.sort()).toEqual([
      ["db-1", "online", "replica-b"],
      ["old-1", "offline", ""],
      ["web-1", "online", "replica-a"],
    ]);
    expect(view.get("DB-1")?.replica).toBe("replica-b");
    expect(view.get("nope")).toBeUndefined();
  });

  it("an agent known offline here but online at a peer is the peer's; online at two replicas, the newest stream wins", () => {
    const { registry, peers, view } = setup(5_000);
    registry.load([{ hostname: "web-3", labels: {}, os: undefined, agentVersion: "1", connectedAt: new Date(10), lastSeenAt: new Date(20) }]);
    peers.set("replica-b", new Map([["web-3", remote("web-3", "replica-b", 1_000)]]));
    expect(view.get("web-3")?.replica).toBe("replica-b");
    peers.set("replica-c", new Map([["web-3", remote("web-3", "replica-c", 2_000)]]));
    expect(view.get("web-3")?.replica).toBe("replica-c");
    expect([...view.records()].filter((record) => record.hostname === "web-3")).toHaveLength(1);
    // A newer stream here beats both.
    registry.attach(create(HelloSchema, { hostname: "web-3" }), link(), "join-token");
    expect(view.view("web-3")?.replica).toBe("replica-a");
  });

  it("answers UNAVAILABLE while the cluster cannot be reached, and forgets only local offline agents", () => {
    const { registry, peers, view, setDown } = setup(1_000);
    peers.set("replica-b", new Map([["db-1", remote("db-1", "replica-b", 900)]]));
    registry.load([{ hostname: "old-1", labels: {}, os: undefined, agentVersion: "1", connectedAt: new Date(10), lastSeenAt: new Date(20) }]);
    setDown(unavailable("cluster unavailable: not connected to NATS"));
    expect(() => view.get("db-1")).toThrow("cluster unavailable: not connected to NATS");
    expect(() => [...view.records()]).toThrow("cluster unavailable: not connected to NATS");
    setDown(undefined);
    expect(view.forget("db-1")).toBe(false);
    expect(view.forget("old-1")).toBe(true);
    expect(view.get("old-1")).toBeUndefined();
  });
});
