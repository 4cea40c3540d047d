// `trustplane agent list|get|forget` against a fake gateway.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AgentState } from "../../gen/trustplane/v1/fleet_pb.js";
import { CapturedIo } from "../testing/captured-io.js";
import { FakeGateway } from "../testing/fake-gateway.js";
import { fleetCommand } from "./fleet.js";

let gateway: FakeGateway;
let env: Record<string, string>;

beforeAll(async () => {
  gateway = await FakeGateway.start();
  env = { TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: "tp_key" };
});
afterAll(() => gateway.close());
beforeEach(() => {
  gateway.calls.length = 0;
  gateway.scripts.clear();
});

const ONLINE = {
  hostname: "web-1",
  labels: { group: "web.dev", env: "prod" },
  state: AgentState.ONLINE,
  os: { id: "debian", idLike: [], versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0", arch: "x64", trustStore: "debian" },
  agentVersion: "0.1.0",
  connectedAt: timestampFromDate(new Date("2024-05-01T09:00:00Z")),
  lastSeenAt: timestampFromDate(new Date("2024-05-01T10:00:00Z")),
  commandsInFlight: 2,
};
const OFFLINE = {
  hostname: "db-1",
  state: AgentState.OFFLINE,
  os: { id: "rocky", idLike: ["rhel", "fedora"], versionId: "9.3" },
  agentVersion: "0.1.0",
  lastSeenAt: timestampFromDate(new Date("2024-04-01T08:00:00Z")),
  stale: true,
};

describe("trustplane agent list", () => {
  it("prints a table of agents", async () => {
    gateway.on("listAgents", () => ({ agents: [ONLINE, OFFLINE] }));
    const io = new CapturedIo(env);
    expect(await fleetCommand(["list"], io)).toBe(0);
    const request = gateway.calls[0]!.request as any;
    expect([request.state, request.target]).toEqual([AgentState.UNSPECIFIED, ""]);
    expect(io.stdout.text).toBe(
      [
        "HOSTNAME  STATE            LAST_SEEN                 OS                              VERSION  LABELS",
        "web-1     online           2024-05-01T10:00:00.000Z  Debian GNU/Linux 12 (bookworm)  0.1.0    env:prod,group:web.dev",
        "db-1      offline (stale)  2024-04-01T08:00:00.000Z  rocky 9.3                       0.1.0    -",
        "",
      ].join("\n"),
    );
  });

  it("passes --state and --target, and --json prints {agents}", async () => {
    gateway.on("listAgents", () => ({ agents: [OFFLINE] }));
    const io = new CapturedIo(env);
    expect(await fleetCommand(["list", "--state", "offline", "--target", "env:prod", "--json"], io)).toBe(0);
    const request = gateway.calls[0]!.request as any;
    expect([request.state, request.target]).toEqual([AgentState.OFFLINE, "env:prod"]);
    expect(JSON.parse(io.stdout.text)).toEqual({
      agents: [
        {
          hostname: "db-1",
          labels: {},
          state: "offline",
          stale: true,
          os: { id: "rocky", id_like: ["rhel", "fedora"], version_id: "9.3", pretty_name: "", kernel: "", arch: "", trust_store: "" },
          agent_version: "0.1.0",
          last_seen_at: "2024-04-01T08:00:00.000Z",
          commands_in_flight: 0,
          replica: "",
        },
      ],
    });
  });

  it("rejects an unknown --state", async () => {
    await expect(fleetCommand(["list", "--state", "up"], new CapturedIo(env))).rejects.toThrow(
      'trustplane agent list: --state must be one of online, offline, got "up"',
    );
  });
});

describe("trustplane agent get and forget", () => {
  it("get prints one agent", async () => {
    gateway.on("getAgent", () => ({ agent: ONLINE }));
    const io = new CapturedIo(env);
    expect(await fleetCommand(["get", "web-1"], io)).toBe(0);
    expect((gateway.calls[0]!.request as any).hostname).toBe("web-1");
    expect(io.stdout.text).toBe(
      [
        "agent web-1",
        "  state        online",
        "  labels       env:prod,group:web.dev",
        "  os           Debian GNU/Linux 12 (bookworm)",
        "  kernel       6.1.0",
        "  arch         x64",
        "  trust store  debian",
        "  version      0.1.0",
        "  connected    2024-05-01T09:00:00.000Z",
        "  last seen    2024-05-01T10:00:00.000Z",
        "  in flight    2",
        "",
      ].join("\n"),
    );
    const json = new CapturedIo(env);
    await fleetCommand(["get", "web-1", "--json"], json);
    expect(JSON.parse(json.stdout.text)).toMatchObject({
      hostname: "web-1",
      labels: { env: "prod", group: "web.dev" },
      state: "online",
      stale: false,
      connected_at: "2024-05-01T09:00:00.000Z",
      commands_in_flight: 2,
    });
  });

  it("get names the replica holding the agent in a cluster", async () => {
    gateway.on("getAgent", () => ({ agent: { ...ONLINE, replica: "replica-b" } }));
    const io = new CapturedIo(env);
    expect(await fleetCommand(["get", "web-1"], io)).toBe(0);
    expect(io.stdout.text.split("\n").slice(-3)).toEqual(["  in flight    2", "  replica      replica-b", ""]);
    const json = new CapturedIo(env);
    await fleetCommand(["get", "web-1", "--json"], json);
    expect(JSON.parse(json.stdout.text)).toMatchObject({ hostname: "web-1", replica: "replica-b" });
  });

  it("get exits 3 for an unknown agent", async () => {
    gateway.on("getAgent", () => {
      throw new ConnectError('agent "nope" not found', Code.NotFound);
    });
    const io = new CapturedIo(env);
    expect(await fleetCommand(["get", "nope"], io)).toBe(3);
    expect(io.stderr.text).toBe('trustplane: agent "nope" not found (NOT_FOUND)\n');
  });

  it("forget forgets an offline agent; an online one is exit 3", async () => {
    gateway.on("forgetAgent", () => ({ agent: OFFLINE }));
    const io = new CapturedIo(env);
    expect(await fleetCommand(["forget", "db-1"], io)).toBe(0);
    expect((gateway.calls[0]!.request as any).hostname).toBe("db-1");
    expect(io.stdout.text).toBe("Forgot agent db-1.\n");
    gateway.on("forgetAgent", () => {
      throw new ConnectError('agent "web-1" is online', Code.FailedPrecondition, { "trustplane-error-details": "stop it first" });
    });
    const online = new CapturedIo(env);
    expect(await fleetCommand(["forget", "web-1"], online)).toBe(3);
    expect(online.stderr.text).toBe('trustplane: agent "web-1" is online: stop it first (FAILED_PRECONDITION)\n');
  });

  it("get and forget need a HOSTNAME", async () => {
    await expect(fleetCommand(["get"], new CapturedIo(env))).rejects.toThrow("trustplane agent get: HOSTNAME is required (see --help)");
    await expect(fleetCommand(["forget"], new CapturedIo(env))).rejects.toThrow("trustplane agent forget: HOSTNAME is required (see --help)");
  });
});
