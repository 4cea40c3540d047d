// FleetService against a real control plane: agent states and facts, target
// filters, forget rules, stale agents, and known agents surviving a restart on SQLite.
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeCa } from "../../test/fixtures/pki.js";
import { InstallCARequestSchema } from "../../gen/trustplane/v1/certificate_pb.js";
import { ResultStatus, type JobEvent } from "../../gen/trustplane/v1/common_pb.js";
import { UploadRequestSchema } from "../../gen/trustplane/v1/file_pb.js";
import {
  AgentState,
  ForgetAgentRequestSchema,
  GetAgentRequestSchema,
  ListAgentsRequestSchema,
  type AgentInfo,
  type ForgetAgentResponse,
  type GetAgentResponse,
  type ListAgentsResponse,
} from "../../gen/trustplane/v1/fleet_pb.js";
import { createApiKey } from "../auth/api-keys-file.js";
import { certificateClient, fileClient, fleetClient, streamJob, unary } from "../testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane, type TestControlPlaneOptions } from "../testing/control-plane-fixture.js";
import { FakeAgent, type FakeAgentOptions } from "../testing/fake-agent.js";

let dir: string;
let cp: TestControlPlane | undefined;
let fleet: ReturnType<typeof fleetClient>;
const agents: FakeAgent[] = [];

async function start(options: TestControlPlaneOptions = {}): Promise<TestControlPlane> {
  fleet?.close();
  cp = await startTestControlPlane(options);
  fleet = fleetClient(cp.address);
  return cp;
}

const hostnames = new WeakMap<FakeAgent, string>();

async function connectNamed(hostname: string, labels: Record<string, string> = {}, autoAnswer?: FakeAgentOptions["autoAnswer"]): Promise<FakeAgent> {
  const agent = await FakeAgent.connect(cp!.address, { joinToken: TEST_JOIN_TOKEN, hostname, labels, autoAnswer });
  agents.push(agent);
  hostnames.set(agent, hostname);
  return agent;
}

/** Ends the agent's stream; its last-seen time once the control plane has it offline. */
async function stop(agent: FakeAgent): Promise<Date> {
  agent.end();
  return (await cp!.controlPlane.registry.whenOffline(hostnames.get(agent)!)).lastSeen;
}

function listAgents(request: Parameters<typeof create<typeof ListAgentsRequestSchema>>[1] = {}, key = cp!.keys.read) {
  return unary<ListAgentsResponse>(fleet, "listAgents", create(ListAgentsRequestSchema, request), key);
}

async function listed(request: Parameters<typeof listAgents>[0] = {}): Promise<string[]> {
  const { response, error } = await listAgents(request);
  expect(error).toBeUndefined();
  return response!.agents.map((agent) => agent.hostname);
}

function getAgent(hostname: string, key = cp!.keys.read) {
  return unary<GetAgentResponse>(fleet, "getAgent", create(GetAgentRequestSchema, { hostname }), key);
}

function forgetAgent(hostname: string, key = cp!.keys.admin) {
  return unary<ForgetAgentResponse>(fleet, "forgetAgent", create(ForgetAgentRequestSchema, { hostname }), key);
}

async function installTo(target: string) {
  const files = fileClient(cp!.address);
  const certificates = certificateClient(cp!.address);
  try {
    await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(makeCa().certPem), force: true }), cp!.keys.write);
    return await streamJob(certificates, "installCA", create(InstallCARequestSchema, { target, name: "corp-root", object: "ca.pem" }), cp!.keys.write);
  } finally {
    files.close();
    certificates.close();
  }
}

function results(events: JobEvent[]) {
  return events.flatMap((event) => (event.event.case === "result" ? [[event.event.value.hostname, ResultStatus[event.event.value.status], event.event.value.error]] : []));
}

function facts(agent: AgentInfo) {
  return {
    hostname: agent.hostname,
    labels: agent.labels,
    state: AgentState[agent.state],
    os: agent.os && [agent.os.id, agent.os.trustStore],
    agentVersion: agent.agentVersion,
    connected: agent.connectedAt !== undefined,
    inFlight: agent.commandsInFlight,
    stale: agent.stale,
  };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "trustplane-fleet-"));
});

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.close();
  fleet?.close();
  await cp?.close();
  cp = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe("ListAgents and GetAgent", () => {
  it("list online and offline agents with their facts, sorted by hostname", async () => {
    await start();
    const busy = await connectNamed("web-2", { env: "prod", group: "web.dev" });
    await connectNamed("web-1", { env: "prod", group: "web" });
    const lastSeen = await stop(await connectNamed("db-1", { env: "prod", group: "db" }));
    const job = installTo("web-2");
    await busy.nextCommand();

    const { response } = await listAgents();
    expect(response!.agents.map(facts)).toEqual([
      { hostname: "db-1", labels: { env: "prod", group: "db" }, state: "OFFLINE", os: ["debian", "debian"], agentVersion: "test", connected: false, inFlight: 0, stale: false },
      { hostname: "web-1", labels: { env: "prod", group: "web" }, state: "ONLINE", os: ["debian", "debian"], agentVersion: "test", connected: true, inFlight: 0, stale: false },
      { hostname: "web-2", labels: { env: "prod", group: "web.dev" }, state: "ONLINE", os: ["debian", "debian"], agentVersion: "test", connected: true, inFlight: 1, stale: false },
    ]);
    expect(timestampDate(response!.agents[0]!.lastSeenAt!).getTime()).toBe(lastSeen.getTime());

    expect(await listed({ state: AgentState.ONLINE })).toEqual(["web-1", "web-2"]);
    expect(await listed({ state: AgentState.OFFLINE })).toEqual(["db-1"]);
    expect(await listed({ target: "group:web" })).toEqual(["web-1", "web-2"]);
    expect(await listed({ target: "env:prod", state: AgentState.OFFLINE })).toEqual(["db-1"]);
    expect(await listed({ target: "_all" })).toEqual(["db-1", "web-1", "web-2"]);
    expect(await listed({ target: "_any" })).toEqual(["web-1", "web-2"]);
    expect(await listed({ target: "DB-1" })).toEqual(["db-1"]);
    expect(await listed({ target: "nope-1" })).toEqual([]);
    expect((await listAgents({ target: "env:pr*d" })).error).toMatchObject({ code: status.INVALID_ARGUMENT, message: 'invalid target "env:pr*d": selector value "pr*d" must be dot-separated [A-Za-z0-9_-]+ segments' });

    busy.answer(busy.commands[0]!.id);
    await job;
    const got = await getAgent("web-2");
    expect(facts(got.response!.agent!)).toMatchObject({ hostname: "web-2", state: "ONLINE", inFlight: 0 });
  });

  it.each<[string, string, number, string]>([
    ["an unknown hostname", "nope-1", status.NOT_FOUND, 'agent "nope-1" not found'],
    ["an empty hostname", "", status.INVALID_ARGUMENT, "hostname is required"],
    ["an invalid hostname", "bad_host!", status.INVALID_ARGUMENT, 'invalid hostname "bad_host!"'],
  ])("GetAgent refuses %s", async (_case, hostname, code, message) => {
    await start();
    expect((await getAgent(hostname)).error).toMatchObject({ code, message });
  });

  it("needs agent:read", async () => {
    await start();
    const jobsOnly = await createApiKey(cp!.keysFile, { permissions: ["job:read"], name: "jobs only" });
    expect((await listAgents({}, jobsOnly.key)).error).toMatchObject({ code: status.PERMISSION_DENIED, message: `key "${jobsOnly.id}" lacks permission agent:read` });
    expect((await getAgent("x-1", jobsOnly.key)).error?.code).toBe(status.PERMISSION_DENIED);
  });
});

describe("ForgetAgent", () => {
  it("forgets an offline agent; refuses an online one, an unknown one, and a key without agent:write", async () => {
    await start();
    await connectNamed("live-1");
    await stop(await connectNamed("dead-1", { env: "x" }));

    expect((await forgetAgent("live-1")).error).toMatchObject({ code: status.FAILED_PRECONDITION, message: 'agent "live-1" is online' });
    expect((await forgetAgent("ghost-1")).error).toMatchObject({ code: status.NOT_FOUND, message: 'agent "ghost-1" not found' });
    expect((await forgetAgent("dead-1", cp!.keys.write)).error).toMatchObject({ code: status.PERMISSION_DENIED, message: `key "${cp!.keyIds.write}" lacks permission agent:write` });

    const forgotten = await forgetAgent("dead-1");
    expect(forgotten.error).toBeUndefined();
    expect(facts(forgotten.response!.agent!)).toMatchObject({ hostname: "dead-1", state: "OFFLINE", labels: { env: "x" } });
    expect(await listed()).toEqual(["live-1"]);
    expect((await getAgent("dead-1")).error?.code).toBe(status.NOT_FOUND);
    expect((await installTo("dead-1")).error).toMatchObject({ code: status.INVALID_ARGUMENT, message: 'target agent "dead-1" not found' });
  });

  it("a forgotten agent stays forgotten after a restart on SQLite", async () => {
    const jobStore = `sqlite:${join(dir, "jobs.db")}`;
    await start({ jobStore });
    await stop(await connectNamed("gone-1"));
    await stop(await connectNamed("kept-1"));
    expect((await forgetAgent("gone-1")).error).toBeUndefined();
    await cp!.close();
    await start({ jobStore });
    expect(await listed()).toEqual(["kept-1"]);
  });
});

describe("stale agents", () => {
  it("an agent offline longer than the stale age is listed stale and left out of _all and selectors, not of its hostname", async () => {
    await start({ staleAgentMs: 200 });
    await connectNamed("fresh-1", { env: "prod" }, () => ({ status: ResultStatus.OK }));
    const lastSeen = await stop(await connectNamed("old-1", { env: "prod" }));
    const deadline = Date.now() + 5_000;
    let old: AgentInfo | undefined;
    while (Date.now() < deadline) {
      old = (await getAgent("old-1")).response?.agent;
      if (old?.stale) break;
      await new Promise((resolve) => setTimeout(resolve, 20)); // polling the clock, not synchronising
    }
    expect(old && facts(old)).toMatchObject({ state: "OFFLINE", stale: true });
    expect(await listed()).toEqual(["fresh-1", "old-1"]);
    expect(await listed({ target: "_all" })).toEqual(["fresh-1"]);
    expect(await listed({ target: "old-1" })).toEqual(["old-1"]);

    expect(results((await installTo("_all")).events)).toEqual([["fresh-1", "OK", ""]]);
    expect(results((await installTo("env:prod")).events)).toEqual([["fresh-1", "OK", ""]]);
    expect(results((await installTo("old-1")).events)).toEqual([["old-1", "FAILED", `agent offline (last seen ${lastSeen.toISOString()})`]]);
  });
});

describe("known agents across a restart on SQLite", () => {
  it("an agent down during the restart is listed offline with its last-seen time and reported offline when targeted", async () => {
    const jobStore = `sqlite:${join(dir, "jobs.db")}`;
    await start({ jobStore });
    const lastSeen = await stop(await connectNamed("down-1", { env: "prod" }));
    const stays = await connectNamed("up-1", { env: "prod" });
    for (const agent of agents.splice(0)) if (agent !== stays) agent.close();
    await cp!.close(); // ends up-1's stream: it is recorded offline too
    expect((await stays.status).code).toBe(status.UNAVAILABLE);
    stays.close();

    await start({ jobStore });
    const { response } = await listAgents();
    expect(response!.agents.map((agent) => [agent.hostname, AgentState[agent.state], agent.labels, agent.stale, agent.connectedAt])).toEqual([
      ["down-1", "OFFLINE", { env: "prod" }, false, undefined],
      ["up-1", "OFFLINE", { env: "prod" }, false, undefined],
    ]);
    expect(timestampDate(response!.agents[0]!.lastSeenAt!).getTime()).toBe(lastSeen.getTime());
    expect(response!.agents[0]!.os?.id).toBe("debian");

    expect(results((await installTo("env:prod")).events)).toEqual([
      ["down-1", "FAILED", `agent offline (last seen ${lastSeen.toISOString()})`],
      ["up-1", "FAILED", `agent offline (last seen ${timestampDate(response!.agents[1]!.lastSeenAt!).toISOString()})`],
    ]);

    // Coming back makes it online again, on the same record.
    await connectNamed("down-1", { env: "prod" }, () => ({ status: ResultStatus.OK }));
    expect(await listed({ state: AgentState.ONLINE })).toEqual(["down-1"]);
  });
});
