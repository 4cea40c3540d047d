// The agent over TLS and mutual TLS against a real grpc-js server on 127.0.0.1 with
// certificates made by openssl: server identity, client certificates, refusals.
import * as grpc from "@grpc/grpc-js";
import { once } from "node:events";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Hello } from "../gen/trustplane/v1/agent_pb.js";
import { makeCa, makeLeaf, type TestCa, type TestLeaf } from "../test/fixtures/pki.js";
import {
  type Agent,
  type AgentDisconnectedEvent,
  type AgentOptions,
  type AgentRefusedEvent,
  startAgent,
} from "./agent.js";
import { makeClientCertificate } from "./testing/client-certificate.js";
import { type AuthContext, FakeControlPlane, type FakeControlPlaneOptions, type HelloRefusal } from "./testing/fake-control-plane.js";
import { makeSandboxRoot, removeDir, silentLogger } from "./testing/sandbox-root.js";

const TOKEN = "join-token-for-tls-tests";
const SERVER_NAME = "cp.trustplane.test";

/** What the real control plane does with mTLS: the hello's hostname must be the certificate's name. */
function certificateIdentity(hello: Hello, auth: AuthContext): HelloRefusal | undefined {
  const name = auth.sslPeerCertificate?.subject?.CN;
  if (name === hello.hostname) return undefined;
  return { code: grpc.status.PERMISSION_DENIED, details: `agent certificate is for "${name}", not "${hello.hostname}"` };
}

/** Collects `count` events of `name`, in order. */
function events<T>(emitter: NodeJS.EventEmitter, name: string, count: number): Promise<T[]> {
  const seen: T[] = [];
  return new Promise((resolve) => {
    const listener = (event: T) => {
      seen.push(event);
      if (seen.length === count) {
        emitter.off(name, listener);
        resolve(seen);
      }
    };
    emitter.on(name, listener);
  });
}

describe("agent over TLS", () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let serverLeaf: TestLeaf;
  let web1: TestLeaf;
  let strangerCert: TestLeaf;
  let root: string;
  const planes: FakeControlPlane[] = [];
  const agents: Agent[] = [];

  beforeAll(async () => {
    ca = makeCa({ commonName: "fleet ca" });
    otherCa = makeCa({ commonName: "someone else's ca" });
    serverLeaf = makeLeaf(ca, SERVER_NAME);
    web1 = makeClientCertificate(ca, "web-1");
    strangerCert = makeClientCertificate(otherCa, "web-1");
    root = await makeSandboxRoot("ID=debian\n");
    return () => removeDir(root);
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
    for (const plane of planes.splice(0)) plane.stop();
  });

  async function plane(options: Partial<FakeControlPlaneOptions> & { mutual?: boolean } = {}): Promise<FakeControlPlane> {
    const { mutual = false, ...rest } = options;
    const started = await new FakeControlPlane({
      joinToken: TOKEN,
      tls: { caPem: ca.certPem, certPem: serverLeaf.certPem, keyPem: serverLeaf.keyPem, requireClientCertificate: mutual },
      ...rest,
    }).start();
    planes.push(started);
    return started;
  }

  function agent(options: Partial<AgentOptions> & Pick<AgentOptions, "servers">): Agent {
    const started = startAgent({
      hostname: "web-1",
      labels: {},
      root,
      joinToken: TOKEN,
      version: "1.2.3",
      logger: silentLogger,
      backoff: { baseMs: 5, capMs: 40 },
      ...options,
    });
    agents.push(started);
    return started;
  }

  it("connects over TLS, checking the server's certificate against the CA and the override name", async () => {
    const cp = await plane();
    const peer = once(cp, "peer");
    const token = once(cp, "stream");
    const a = agent({ servers: [cp.address], tls: { caPem: Buffer.from(ca.certPem), serverNameOverride: SERVER_NAME } });
    await a.waitConnected(10_000);
    expect(await token).toEqual([TOKEN]);
    // grpc-js reports an auth context only for an authorized peer, i.e. one with a client certificate.
    expect(await peer).toEqual([{}]);

    // The port speaks only TLS: a plaintext agent never gets a stream.
    const streams: unknown[] = [];
    cp.on("stream", (streamToken) => streams.push(streamToken));
    const plaintext = agent({ servers: [cp.address], hostname: "web-9" });
    const [failure] = await events<AgentDisconnectedEvent>(plaintext, "disconnected", 1);
    expect(failure).toMatchObject({ server: cp.address, code: grpc.status.UNAVAILABLE, connected: false });
    expect(streams).toEqual([]);
  });

  it("with mutual TLS the server sees the client certificate, and no token is sent", async () => {
    const cp = await plane({ mutual: true, joinToken: undefined, checkHello: certificateIdentity });
    const peer = once(cp, "peer");
    const token = once(cp, "stream");
    const hello = once(cp, "hello");
    const a = agent({
      servers: [cp.address],
      joinToken: "",
      tls: { caPem: Buffer.from(ca.certPem), certPem: Buffer.from(web1.certPem), keyPem: Buffer.from(web1.keyPem), serverNameOverride: SERVER_NAME },
    });
    await a.waitConnected(10_000);
    expect(await token).toEqual([undefined]);
    const [auth] = (await peer) as [AuthContext];
    expect(auth.transportSecurityType).toBe("ssl");
    expect(auth.sslPeerCertificate?.subject.CN).toBe("web-1");
    expect(auth.sslPeerCertificate?.subjectaltname).toBe("DNS:web-1");
    expect(auth.sslPeerCertificate?.issuer.CN).toBe("fleet ca");
    expect(((await hello) as [Hello])[0].hostname).toBe("web-1");
  });

  it("a hello refused for the certificate's identity is logged at error, emitted as refused, and retried", async () => {
    const cp = await plane({ mutual: true, joinToken: undefined, checkHello: certificateIdentity });
    const lines: { level: number; msg: string; code?: string; details?: string }[] = [];
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(JSON.parse(String(chunk)));
        callback();
      },
    });
    const a = agent({
      servers: [cp.address],
      hostname: "web-2",
      joinToken: "",
      logger: pino({ level: "info" }, sink),
      tls: { caPem: Buffer.from(ca.certPem), certPem: Buffer.from(web1.certPem), keyPem: Buffer.from(web1.keyPem), serverNameOverride: SERVER_NAME },
    });
    const connected: unknown[] = [];
    a.on("connected", (event) => connected.push(event));
    const refused = await events<AgentRefusedEvent>(a, "refused", 3);
    const details = 'agent certificate is for "web-1", not "web-2"';
    expect(refused).toEqual(Array(3).fill({ server: cp.address, code: grpc.status.PERMISSION_DENIED, details }));
    const errors = lines.filter((line) => line.level === 50);
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors[0]).toMatchObject({ msg: `control plane refused the agent: ${details}`, code: "PERMISSION_DENIED", details });
    expect(connected).toEqual([]);
  });

  it("an agent without a client certificate is refused by the mutual TLS handshake and keeps retrying", async () => {
    const cp = await plane({ mutual: true });
    const hellos: unknown[] = [];
    cp.on("hello", (hello) => hellos.push(hello));
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(JSON.parse(String(chunk)));
        callback();
      },
    });
    const a = agent({
      servers: [cp.address],
      logger: pino({ level: "info" }, sink),
      tls: { caPem: Buffer.from(ca.certPem), serverNameOverride: SERVER_NAME },
    });
    const refused: unknown[] = [];
    a.on("refused", (event) => refused.push(event));
    const disconnects = await events<AgentDisconnectedEvent>(a, "disconnected", 3);
    for (const event of disconnects) {
      expect(event).toMatchObject({ server: cp.address, code: grpc.status.UNAVAILABLE, connected: false });
      expect(event.retryInMs).toBeGreaterThanOrEqual(0);
      expect(event.retryInMs).toBeLessThan(40);
    }
    expect(hellos).toEqual([]);
    expect(refused).toEqual([]);
    // The server's alert ("certificate required") reaches the log at error level.
    expect(lines.filter((line) => line.level === 50).map((line) => line.msg)).toContain("TLS handshake with the control plane failed");
    await expect(a.waitConnected(1)).rejects.toThrow("not connected after 1 ms");
  });

  it("a client certificate from another CA is refused by the handshake", async () => {
    const cp = await plane({ mutual: true, joinToken: undefined });
    const hellos: unknown[] = [];
    cp.on("hello", (hello) => hellos.push(hello));
    const a = agent({
      servers: [cp.address],
      joinToken: "",
      tls: { caPem: Buffer.from(ca.certPem), certPem: Buffer.from(strangerCert.certPem), keyPem: Buffer.from(strangerCert.keyPem), serverNameOverride: SERVER_NAME },
    });
    const disconnects = await events<AgentDisconnectedEvent>(a, "disconnected", 2);
    expect(disconnects.map((event) => [event.code, event.connected])).toEqual([
      [grpc.status.UNAVAILABLE, false],
      [grpc.status.UNAVAILABLE, false],
    ]);
    expect(hellos).toEqual([]);
  });

  it("does not connect to a server whose certificate it cannot verify", async () => {
    const cp = await plane();
    const streams: unknown[] = [];
    cp.on("stream", (token) => streams.push(token));
    const wrongCa = agent({ servers: [cp.address], tls: { caPem: Buffer.from(otherCa.certPem), serverNameOverride: SERVER_NAME } });
    const [untrusted] = await events<AgentDisconnectedEvent>(wrongCa, "disconnected", 1);
    expect(untrusted).toMatchObject({ code: grpc.status.UNAVAILABLE, connected: false });
    const wrongName = agent({ servers: [cp.address], tls: { caPem: Buffer.from(ca.certPem), serverNameOverride: "other.trustplane.test" } });
    const [misnamed] = await events<AgentDisconnectedEvent>(wrongName, "disconnected", 1);
    expect(misnamed).toMatchObject({ code: grpc.status.UNAVAILABLE, connected: false });
    expect(streams).toEqual([]);
  });

  it.each([
    ["a certificate without its key", { certPem: Buffer.from("x") }, "agent TLS: a client certificate needs its private key, and a key its certificate"],
    ["a key without its certificate", { keyPem: Buffer.from("x") }, "agent TLS: a client certificate needs its private key, and a key its certificate"],
    ["no token and no client certificate", { caPem: undefined }, "agent needs a join token unless it presents a client certificate (mutual TLS)"],
  ])("startAgent refuses %s", (_title, tls, message) => {
    expect(() =>
      startAgent({ servers: ["127.0.0.1:1"], hostname: "web-1", labels: {}, root, joinToken: "", tls, version: "1", logger: silentLogger }),
    ).toThrow(message);
  });

  it("startAgent refuses a client key that does not load", () => {
    expect(() =>
      startAgent({
        servers: ["127.0.0.1:1"],
        hostname: "web-1",
        labels: {},
        root,
        tls: { certPem: Buffer.from(web1.certPem), keyPem: Buffer.from("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") },
        version: "1",
        logger: silentLogger,
      }),
    ).toThrow();
  });
});
