// The agent's stream against a fake control plane on 127.0.0.1: join token, hello,
// commands and results, command memory, heartbeats, reconnect, stop.
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { access, mkdtemp, open, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { arch, release, tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CommandSchema, type Hello, ListCACommandSchema } from "../gen/trustplane/v1/agent_pb.js";
import { CertificateSource, ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { makeCa, type TestCa } from "../test/fixtures/pki.js";
import { type Agent, type AgentDisconnectedEvent, type AgentOptions, type AgentRefusedEvent, startAgent } from "./agent.js";
import { FakeControlPlane } from "./testing/fake-control-plane.js";
import { installCommand, makeSandboxRoot, makeStandIn, removeDir, silentLogger, type StandIn } from "./testing/sandbox-root.js";

const TOKEN = "join-token-for-tests";
const OS_RELEASE = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n';

describe("agent stream", () => {
  let ca: TestCa;
  const planes: FakeControlPlane[] = [];
  const agents: Agent[] = [];
  const dirs: string[] = [];

  beforeAll(() => {
    ca = makeCa({ commonName: "stream root" });
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
    for (const plane of planes.splice(0)) plane.stop();
    await Promise.all(dirs.splice(0).map(removeDir));
  });

  async function plane(options: Partial<ConstructorParameters<typeof FakeControlPlane>[0]> = {}): Promise<FakeControlPlane> {
    const started = await new FakeControlPlane({ joinToken: TOKEN, ...options }).start();
    planes.push(started);
    return started;
  }

  async function sandbox(): Promise<{ root: string; standIn: StandIn }> {
    const root = await makeSandboxRoot(OS_RELEASE);
    const standIn = await makeStandIn("/etc/pki/ca-trust/source/anchors", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem");
    dirs.push(root, standIn.dir);
    return { root, standIn };
  }

  function agent(options: Partial<AgentOptions> & Pick<AgentOptions, "servers" | "root">): Agent {
    const started = startAgent({
      hostname: "node-1.example.test",
      labels: { env: "prod", group: "web.dev" },
      joinToken: TOKEN,
      version: "1.2.3",
      logger: silentLogger,
      backoff: { baseMs: 5, capMs: 40 },
      ...options,
    });
    agents.push(started);
    return started;
  }

  it("sends the join token and a hello with hostname, labels, OS facts and version", async () => {
    const cp = await plane();
    const { root, standIn } = await sandbox();
    const tokenSeen = once(cp, "stream");
    const helloSeen = once(cp, "hello");
    const a = agent({ servers: [cp.address], root, updateCommand: standIn.command });
    expect(a.hostname).toBe("node-1.example.test");
    await a.waitConnected(5_000);
    expect(await tokenSeen).toEqual([TOKEN]);
    const [hello] = (await helloSeen) as [Hello];
    expect(hello.hostname).toBe("node-1.example.test");
    expect(hello.labels).toEqual({ env: "prod", group: "web.dev" });
    expect(hello.agentVersion).toBe("1.2.3");
    expect(hello.os).toMatchObject({
      id: "rocky",
      idLike: ["rhel", "centos", "fedora"],
      versionId: "9.4",
      prettyName: "Rocky Linux 9.4 (Blue Onyx)",
      kernel: release(),
      arch: arch(),
      trustStore: "rhel",
    });
  });

  it("answers commands with their id and answers a repeated id from memory", async () => {
    const cp = await plane();
    const { root, standIn } = await sandbox();
    const a = agent({ servers: [cp.address], root, updateCommand: standIn.command });
    await a.waitConnected(5_000);

    const install = installCommand("corp", ca.certPem);
    cp.send(install);
    expect(await cp.nextResult()).toMatchObject({ commandId: install.id, status: ResultStatus.OK, changed: true, error: "" });
    expect(await standIn.calls()).toHaveLength(1);

    cp.send(install);
    expect(await cp.nextResult()).toMatchObject({ commandId: install.id, status: ResultStatus.OK, changed: true });
    expect(await standIn.calls()).toHaveLength(1);

    const list = create(CommandSchema, { id: "list-1", kind: { case: "listCa", value: create(ListCACommandSchema, { source: CertificateSource.CUSTOM }) } });
    cp.send(list);
    const listed = await cp.nextResult();
    expect(listed.commandId).toBe("list-1");
    expect(listed.certificates.map((c) => [c.name, c.object])).toEqual([["corp", "corp.pem"]]);

    const empty = create(CommandSchema, { id: "nothing-1" });
    cp.send(empty);
    expect(await cp.nextResult()).toMatchObject({ commandId: "nothing-1", status: ResultStatus.FAILED, error: "unsupported command" });
  });

  it("sends heartbeats at the welcome's interval", async () => {
    const cp = await plane({ heartbeatIntervalMs: 20 });
    const { root } = await sandbox();
    const a = agent({ servers: [cp.address], root });
    await a.waitConnected(5_000);
    await once(cp, "heartbeat");
    await once(cp, "heartbeat");
  });

  it("reconnects after the control plane restarts on the same port", async () => {
    const first = await plane();
    const { root } = await sandbox();
    const a = agent({ servers: [first.address], root });
    await a.waitConnected(5_000);

    const disconnected = once(a, "disconnected");
    first.stop();
    await disconnected;

    const connected = once(a, "connected");
    const second = await plane({ port: first.port });
    const helloAgain = once(second, "hello");
    const [info] = (await connected) as [{ server: string; sessionId: string }];
    expect(info).toEqual({ server: first.address, sessionId: "session-1" });
    await helloAgain;
    await a.waitConnected(1_000);
  });

  it("fails over to the other server when its control plane goes away", async () => {
    const one = await plane();
    const two = await plane();
    const { root } = await sandbox();
    const a = agent({ servers: [one.address, two.address], root });
    const [first] = (await once(a, "connected")) as [{ server: string }];
    expect([one.address, two.address]).toContain(first.server);
    const [current, other] = first.server === one.address ? [one, two] : [two, one];

    const connected = once(a, "connected");
    current.stop();
    const [next] = (await connected) as [{ server: string }];
    expect(next.server).toBe(other.address);
  });

  it("with serverOrder listed: starts at the first address and fails over to the next, in order", async () => {
    const one = await plane();
    const two = await plane();
    const three = await plane();
    const { root } = await sandbox();
    const a = agent({ servers: [two.address, three.address, one.address], serverOrder: "listed", root });
    const [first] = (await once(a, "connected")) as [{ server: string }];
    expect(first.server).toBe(two.address);

    const connected = once(a, "connected");
    two.stop();
    const [next] = (await connected) as [{ server: string }];
    expect(next.server).toBe(three.address);
  });

  it("connects past a dead address in its server list", async () => {
    const dead = await freePort();
    const cp = await plane();
    const { root } = await sandbox();
    const a = agent({ servers: [`127.0.0.1:${dead}`, cp.address], root });
    await a.waitConnected(10_000);
  });

  it("logs a refused join token at error level with the server's message and keeps retrying", async () => {
    const cp = await plane({ joinToken: "another-token" });
    const { root } = await sandbox();
    const lines: { level: number; msg: string; code?: string }[] = [];
    const refusals: AgentRefusedEvent[] = [];
    const refused = new Promise<void>((resolve) => {
      const sink = new Writable({
        write(chunk, _encoding, callback) {
          const line = JSON.parse(String(chunk));
          lines.push(line);
          if (line.level === 50) resolve();
          callback();
        },
      });
      agent({ servers: [cp.address], root, logger: pino({ level: "info" }, sink) }).on("refused", (event) => refusals.push(event));
    });
    await refused;
    const error = lines.find((line) => line.level === 50)!;
    expect(error.msg).toBe("control plane refused the agent: join token is not valid");
    expect(error.code).toBe("UNAUTHENTICATED");
    expect(JSON.stringify(lines)).not.toContain(TOKEN);
    expect(refusals[0]).toEqual({ server: cp.address, code: grpc.status.UNAUTHENTICATED, details: "join token is not valid" });

    // Fixed on the server side: the agent gets in on a later attempt.
    cp.acceptedToken = TOKEN;
    await agents[0]!.waitConnected(10_000);
  });

  it("retries with full-jitter back-off that doubles per attempt up to the cap", async () => {
    const dead = await freePort();
    const { root } = await sandbox();
    const a = agent({ servers: [`127.0.0.1:${dead}`], root, backoff: { baseMs: 8, capMs: 40 } });
    const events = await new Promise<AgentDisconnectedEvent[]>((resolve) => {
      const seen: AgentDisconnectedEvent[] = [];
      a.on("disconnected", (event: AgentDisconnectedEvent) => {
        if (seen.push(event) === 8) resolve(seen);
      });
    });
    const ceilings = [8, 16, 32, 40, 40, 40, 40, 40];
    events.forEach((event, attempt) => {
      expect(event).toMatchObject({ server: `127.0.0.1:${dead}`, code: grpc.status.UNAVAILABLE, connected: false });
      expect(Number.isInteger(event.retryInMs)).toBe(true);
      expect(event.retryInMs).toBeGreaterThanOrEqual(0);
      expect(event.retryInMs).toBeLessThan(ceilings[attempt]!);
    });
  });

  it("answers a command of a kind it does not know (a newer control plane's) FAILED, by its id", async () => {
    const cp = await plane();
    const { root } = await sandbox();
    const a = agent({ servers: [cp.address], root });
    await a.waitConnected(5_000);
    const known = toBinary(CommandSchema, create(CommandSchema, { id: "future-1", jobId: "job-9" }));
    // Field 13, length-delimited, 3 bytes: a kind this agent's proto does not have.
    cp.sendCommandBytes(Buffer.concat([known, Buffer.from([0x6a, 0x03, 0x0a, 0x01, 0x78])]));
    expect(await cp.nextResult()).toMatchObject({ commandId: "future-1", status: ResultStatus.FAILED, error: "unsupported command" });
  });

  it("a frame that does not parse ends the stream; the agent reconnects and keeps answering", async () => {
    const cp = await plane();
    const { root } = await sandbox();
    const a = agent({ servers: [cp.address], root });
    await a.waitConnected(5_000);
    const disconnected = once(a, "disconnected");
    const reconnected = new Promise((resolve) => a.on("connected", resolve));
    // Field 2 (command) claims 5 bytes and carries 1.
    cp.sendFrame(Buffer.from([0x12, 0x05, 0x0a]));
    const [event] = (await disconnected) as [AgentDisconnectedEvent];
    expect(event).toMatchObject({ code: grpc.status.INTERNAL, connected: true });
    await reconnected;
    const list = create(CommandSchema, { id: "after-1", kind: { case: "listCa", value: create(ListCACommandSchema, {}) } });
    cp.send(list);
    expect(await cp.nextResult()).toMatchObject({ commandId: "after-1", status: ResultStatus.OK });
  });

  it("stop() finishes the command in progress, then closes the stream", async () => {
    const cp = await plane();
    const { root } = await sandbox();
    const gate = await mkdtemp(join(tmpdir(), "trustplane-gate-"));
    dirs.push(gate);
    execFileSync("mkfifo", [join(gate, "fifo")]);
    const slow = join(gate, "slow-rebuild.sh");
    await writeFile(
      slow,
      [
        "#!/bin/sh",
        `touch '${gate}/started'`,
        `read line < '${gate}/fifo'`,
        'b="$TRUSTPLANE_ROOT/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"',
        'mkdir -p "$(dirname "$b")"',
        'cat "$TRUSTPLANE_ROOT"/etc/pki/ca-trust/source/anchors/* > "$b"',
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    const a = agent({ servers: [cp.address], root, updateCommand: slow });
    await a.waitConnected(5_000);
    const install = installCommand("slow", ca.certPem);
    cp.send(install);
    await waitFor(() => access(join(gate, "started")).then(() => true, () => false));

    const events: string[] = [];
    const ended = once(cp, "end").then(() => events.push("stream end"));
    const stopped = a.stop().then(() => events.push("stopped"));
    // A command arriving while stopping is answered at once and not run.
    const late = installCommand("late", ca.certPem);
    cp.send(late);
    expect(await cp.nextResult()).toMatchObject({ commandId: late.id, status: ResultStatus.FAILED, error: "agent is stopping" });
    const result = cp.nextResult().then((r) => events.push(`result ${r.commandId} ${r.status}`));
    const fifo = await open(join(gate, "fifo"), "w");
    await fifo.write("go\n");
    await fifo.close();
    await Promise.all([result, ended, stopped]);
    expect(events).toEqual([`result ${install.id} ${ResultStatus.OK}`, "stream end", "stopped"]);
    await expect(access(join(root, "etc/pki/ca-trust/source/anchors/trustplane-late.crt"))).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(root, "etc/pki/ca-trust/source/anchors/trustplane-slow.crt"), "utf8")).toBe(ca.certPem);
    await expect(a.waitConnected(10)).rejects.toThrow("agent stopped");
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
