// Rate control and per-host deadlines of the job runner, through a real control
// plane and fake agents that answer only when the test says so; and the runner
// alone, for the order of summary and record.
import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../common/logger.js";
import { makeCa } from "../test/fixtures/pki.js";
import { InstallCARequestSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { HostLimitSchema, JobOptionsSchema, ResultStatus, type HostLimit, type HostResult, type JobEvent } from "../gen/trustplane/v1/common_pb.js";
import { UploadRequestSchema } from "../gen/trustplane/v1/file_pb.js";
import { JobRunner } from "./job-runner.js";
import { MemoryJobStore } from "./job-store/memory-job-store.js";
import type { AgentRecord } from "./registry.js";
import { certificateClient, fileClient, streamJob, unary } from "./testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane } from "./testing/control-plane-fixture.js";
import { FakeAgent, type FakeAgentOptions } from "./testing/fake-agent.js";

let cp: TestControlPlane;
let certificates: ReturnType<typeof certificateClient>;
let caPem: string;
const agents: FakeAgent[] = [];

const count = (value: number): HostLimit => create(HostLimitSchema, { limit: { case: "count", value } });
const percent = (value: number): HostLimit => create(HostLimitSchema, { limit: { case: "percent", value } });

async function connectAgent(options: Omit<FakeAgentOptions, "joinToken">): Promise<FakeAgent> {
  const agent = await FakeAgent.connect(cp.address, { joinToken: TEST_JOIN_TOKEN, ...options });
  agents.push(agent);
  return agent;
}

function install(target: string, options: { maxConcurrency?: HostLimit; maxErrors?: HostLimit; timeoutSeconds?: number } = {}) {
  return streamJob(certificates, "installCA", create(InstallCARequestSchema, { target, name: "corp-root", object: "ca.pem", options }), cp.keys.write);
}

function results(events: JobEvent[]): HostResult[] {
  return events.flatMap((event) => (event.event.case === "result" ? [event.event.value] : []));
}

function plain(result: HostResult) {
  return [result.hostname, ResultStatus[result.status], result.error];
}

/** Makes sure every command the control plane sent to these agents so far has arrived. */
async function settled(...fleet: FakeAgent[]): Promise<void> {
  await Promise.all(fleet.map((agent) => agent.roundTrip()));
}

beforeAll(() => {
  caPem = makeCa({ commonName: "rate control CA" }).certPem;
});

beforeEach(async () => {
  cp = await startTestControlPlane();
  certificates = certificateClient(cp.address);
  const files = fileClient(cp.address);
  const uploaded = await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(caPem) }), cp.keys.write);
  files.close();
  expect(uploaded.error).toBeUndefined();
});

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.close();
  certificates.close();
  await cp.close();
});

describe("max_concurrency", () => {
  it("1 over three agents runs them one after another: the next gets its command only after the previous answered", async () => {
    const fleet = [await connectAgent({ hostname: "a-1", labels: { g: "x" } }), await connectAgent({ hostname: "b-1", labels: { g: "x" } }), await connectAgent({ hostname: "c-1", labels: { g: "x" } })];
    const received: number[] = [];
    const answered: number[] = [];
    const job = install("g:x", { maxConcurrency: count(1) });
    for (const [index, agent] of fleet.entries()) {
      const command = await agent.nextCommand();
      received[index] = Date.now();
      await settled(...fleet);
      // Only this agent has been sent anything beyond the earlier ones.
      expect(fleet.map((other) => other.commands.length)).toEqual(fleet.map((_, i) => (i <= index ? 1 : 0)));
      answered[index] = Date.now();
      agent.answer(command.id, { status: ResultStatus.OK, changed: true });
    }
    const { events, error } = await job;
    expect(error).toBeUndefined();
    expect(results(events).map(plain)).toEqual([
      ["a-1", "OK", ""],
      ["b-1", "OK", ""],
      ["c-1", "OK", ""],
    ]);
    for (let i = 1; i < fleet.length; i++) expect(received[i]!).toBeGreaterThanOrEqual(answered[i - 1]!);
  });

  it("50% of three agents keeps two commands outstanding; the third starts when one finishes", async () => {
    const fleet = await Promise.all(["a-1", "b-1", "c-1"].map((hostname) => connectAgent({ hostname })));
    const job = install("_all", { maxConcurrency: percent(50) });
    const [a, b, c] = fleet as [FakeAgent, FakeAgent, FakeAgent];
    await a.nextCommand();
    await b.nextCommand();
    await settled(...fleet);
    expect(c.commands).toHaveLength(0);
    b.answer(b.commands[0]!.id, { status: ResultStatus.FAILED, error: "rebuild failed" });
    await c.nextCommand();
    c.answer(c.commands[0]!.id, { status: ResultStatus.OK });
    a.answer(a.commands[0]!.id, { status: ResultStatus.OK });
    const { events } = await job;
    expect(results(events).map(plain)).toEqual([
      ["b-1", "FAILED", "rebuild failed"],
      ["c-1", "OK", ""],
      ["a-1", "OK", ""],
    ]);
  });

  it("offline hosts fail at once and take no slot", async () => {
    const gone = await connectAgent({ hostname: "a-1" });
    gone.end();
    const lastSeen = (await cp.controlPlane.registry.whenOffline("a-1")).lastSeen.toISOString();
    const b = await connectAgent({ hostname: "b-1" });
    const c = await connectAgent({ hostname: "c-1" });
    const job = install("_all", { maxConcurrency: count(1) });
    const first = await b.nextCommand();
    await settled(b, c);
    expect(c.commands).toHaveLength(0);
    b.answer(first.id);
    c.answer((await c.nextCommand()).id);
    const { events } = await job;
    expect(results(events).map(plain)).toEqual([
      ["a-1", "FAILED", `agent offline (last seen ${lastSeen})`],
      ["b-1", "OK", ""],
      ["c-1", "OK", ""],
    ]);
  });

  it("counts each host's deadline from its own start", async () => {
    const a = await connectAgent({ hostname: "a-1" });
    const b = await connectAgent({ hostname: "b-1" });
    const job = install("_all", { maxConcurrency: count(1), timeoutSeconds: 1 });
    await a.nextCommand();
    const command = await b.nextCommand(1, 5_000); // after a-1 timed out
    b.answer(command.id, { status: ResultStatus.OK });
    const { events } = await job;
    expect(results(events).map(plain)).toEqual([
      ["a-1", "FAILED", "timeout"],
      ["b-1", "OK", ""],
    ]);
    expect(a.commands).toHaveLength(1);
  });
});

describe("max_errors", () => {
  it("0 with a failing first host: the rest answer SKIPPED `max errors reached` and get no command", async () => {
    const fleet = await Promise.all(["a-1", "b-1", "c-1"].map((hostname) => connectAgent({ hostname })));
    const [a, b, c] = fleet as [FakeAgent, FakeAgent, FakeAgent];
    const job = install("_all", { maxConcurrency: count(1), maxErrors: count(0) });
    a.answer((await a.nextCommand()).id, { status: ResultStatus.FAILED, error: "update-ca-certificates: exit 1" });
    const { events, error } = await job;
    expect(error).toBeUndefined();
    expect(results(events).map(plain)).toEqual([
      ["a-1", "FAILED", "update-ca-certificates: exit 1"],
      ["b-1", "SKIPPED", "max errors reached"],
      ["c-1", "SKIPPED", "max errors reached"],
    ]);
    const summary = events.at(-1)!.event;
    expect(summary.case === "summary" && [summary.value.ok, summary.value.failed, summary.value.skipped]).toEqual([0, 1, 2]);
    await settled(b, c);
    expect([b.commands.length, c.commands.length]).toEqual([0, 0]);
  });

  it("allows up to N failures: the host after the (N+1)th is skipped", async () => {
    const fleet = await Promise.all(["a-1", "b-1", "c-1", "d-1"].map((hostname) => connectAgent({ hostname, autoAnswer: () => ({ status: ResultStatus.FAILED, error: "no" }) })));
    // 25% of 4 = 1 failure allowed; the second failure stops the job.
    const { events } = await install("_all", { maxConcurrency: count(1), maxErrors: percent(25) });
    expect(results(events).map(plain)).toEqual([
      ["a-1", "FAILED", "no"],
      ["b-1", "FAILED", "no"],
      ["c-1", "SKIPPED", "max errors reached"],
      ["d-1", "SKIPPED", "max errors reached"],
    ]);
    await settled(...fleet);
    expect(fleet.map((agent) => agent.commands.length)).toEqual([1, 1, 0, 0]);
  });

  it("counts offline hosts as failures before anything starts", async () => {
    const gone = await connectAgent({ hostname: "a-1" });
    gone.end();
    await cp.controlPlane.registry.whenOffline("a-1");
    const b = await connectAgent({ hostname: "b-1", autoAnswer: () => ({ status: ResultStatus.OK }) });
    const { events } = await install("_all", { maxErrors: count(0) });
    expect(results(events).map((result) => [result.hostname, ResultStatus[result.status]])).toEqual([
      ["a-1", "FAILED"],
      ["b-1", "SKIPPED"],
    ]);
    await settled(b);
    expect(b.commands).toHaveLength(0);
  });

  it("in-flight hosts still finish once the limit is crossed", async () => {
    const fleet = await Promise.all(["a-1", "b-1", "c-1"].map((hostname) => connectAgent({ hostname })));
    const [a, b, c] = fleet as [FakeAgent, FakeAgent, FakeAgent];
    const job = install("_all", { maxConcurrency: count(2), maxErrors: count(0) });
    await a.nextCommand();
    await b.nextCommand();
    a.answer(a.commands[0]!.id, { status: ResultStatus.FAILED, error: "no" });
    b.answer(b.commands[0]!.id, { status: ResultStatus.OK, changed: true });
    const { events } = await job;
    expect(results(events).map(plain)).toEqual([
      ["a-1", "FAILED", "no"],
      ["c-1", "SKIPPED", "max errors reached"],
      ["b-1", "OK", ""],
    ]);
    await settled(c);
    expect(c.commands).toHaveLength(0);
  });
});

describe("host limit validation", () => {
  it.each<[string, { maxConcurrency?: HostLimit; maxErrors?: HostLimit }, string]>([
    ["a percentage above 100", { maxConcurrency: percent(101) }, "max_concurrency must be a percentage from 0 to 100, got 101%"],
    ["a count above 100000", { maxErrors: count(100_001) }, "max_errors must be at most 100000 hosts, got 100001"],
  ])("refuses %s with INVALID_ARGUMENT before dispatching", async (_case, options, message) => {
    const agent = await connectAgent({ hostname: "v-1", autoAnswer: () => ({ status: ResultStatus.OK }) });
    const { events, error } = await install("v-1", options);
    expect(error).toMatchObject({ code: status.INVALID_ARGUMENT, message });
    expect(events).toEqual([]);
    await settled(agent);
    expect(agent.commands).toEqual([]);
  });
});

describe("the job record", () => {
  it("the summary waits until the store has written the job", async () => {
    let release!: () => void;
    const store = new (class extends MemoryJobStore {
      override flush(): Promise<void> {
        return new Promise((resolve) => (release = resolve));
      }
    })();
    const runner = new JobRunner({ store, logger: createLogger({ component: "runner-test", level: "silent" }) });
    const offline: AgentRecord = {
      hostname: "off-1",
      labels: {},
      os: undefined,
      agentVersion: "",
      state: "offline",
      connectedAt: 0,
      lastSeen: Date.UTC(2030, 0, 1),
      link: undefined,
      identity: "",
      savedSeen: 0,
    };
    const job = runner.start({
      operation: "certificate.delete",
      target: "off-1",
      agents: [offline],
      command: { case: "deleteCa", value: { $typeName: "trustplane.v1.DeleteCACommand", name: "x" } },
      name: "x",
      object: "",
      options: create(JobOptionsSchema),
      timeoutMs: 1000,
      dryRun: false,
      keyId: "key-1",
    });
    const events = job.events();
    expect((await events.next()).value?.event.case).toBe("started");
    expect((await events.next()).value?.event.case).toBe("result");
    let summarized = false;
    const summary = events.next().then((next) => {
      summarized = true;
      return next;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(summarized).toBe(false);
    expect(runner.get(job.id)).toBe(job);
    expect(await store.getJob(job.id)).toMatchObject({ state: "failed", results: [{ hostname: "off-1", error: "agent offline (last seen 2030-01-01T00:00:00.000Z)" }] });
    release();
    expect((await summary).value?.event.case).toBe("summary");
    await job.done;
  });
});
