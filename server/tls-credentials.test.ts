// The control plane over TLS and mutual TLS, with certificates made by openssl: the
// client API needs no client certificate, agents do (with a client CA) and may claim
// only the hostname their certificate names; a second stream for an online hostname
// replaces the first only with the same certificate.
import { create } from "@bufbuild/protobuf";
import { credentials, status } from "@grpc/grpc-js";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeClientCertificate } from "../agent/testing/client-certificate.js";
import { InstallCARequestSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { ListRequestSchema, UploadRequestSchema } from "../gen/trustplane/v1/file_pb.js";
import { makeCa, makeLeaf, type TestCa, type TestLeaf } from "../test/fixtures/pki.js";
import { certificateClient, fileClient, streamJob, unary, type ClientChannel } from "./testing/client-calls.js";
import { startTestControlPlane, TEST_JOIN_TOKEN, type TestControlPlane } from "./testing/control-plane-fixture.js";
import { FakeAgent, type FakeAgentOptions } from "./testing/fake-agent.js";

const SERVER_NAME = "cp.trustplane.test";

let ca: TestCa;
let otherCa: TestCa;
let serverLeaf: TestLeaf;
let web1: TestLeaf;
let web1Again: TestLeaf;
let stranger: TestLeaf;
let cp: TestControlPlane | undefined;
const agents: FakeAgent[] = [];
const clients: { close(): void }[] = [];

beforeAll(() => {
  ca = makeCa({ commonName: "fleet ca" });
  otherCa = makeCa({ commonName: "someone else's ca" });
  serverLeaf = makeLeaf(ca, SERVER_NAME);
  web1 = makeClientCertificate(ca, "web-1");
  web1Again = makeClientCertificate(ca, "web-1");
  stranger = makeClientCertificate(otherCa, "web-1");
});

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.close();
  for (const client of clients.splice(0)) client.close();
  await cp?.close();
  cp = undefined;
});

async function start(mutual: boolean): Promise<TestControlPlane> {
  cp = await startTestControlPlane({
    tls: {
      certPem: Buffer.from(serverLeaf.certPem),
      keyPem: Buffer.from(serverLeaf.keyPem),
      ...(mutual ? { clientCaPem: Buffer.from(ca.certPem) } : {}),
    },
  });
  return cp;
}

/** A TLS client trusting only the system's roots, not the fleet CA. */
const untrustingChannel: ClientChannel = {
  credentials: credentials.createSsl(),
  options: { "grpc.ssl_target_name_override": SERVER_NAME },
};

function channel(): ClientChannel {
  return { credentials: credentials.createSsl(Buffer.from(ca.certPem)), options: { "grpc.ssl_target_name_override": SERVER_NAME } };
}

function agent(options: Omit<FakeAgentOptions, "tls"> & { cert?: TestLeaf }): FakeAgent {
  const { cert, ...rest } = options;
  const created = new FakeAgent(cp!.address, {
    ...rest,
    tls: { caPem: ca.certPem, certPem: cert?.certPem, keyPem: cert?.keyPem, serverName: SERVER_NAME },
  });
  agents.push(created);
  return created;
}

async function finalStatus(fake: FakeAgent): Promise<{ code: number; details: string }> {
  const { code, details } = await fake.status;
  return { code, details };
}

describe("control plane over TLS", () => {
  it("serves the client API and agents over TLS only", async () => {
    await start(false);
    const files = fileClient(cp!.address, channel());
    clients.push(files);
    expect(await unary(files, "list", create(ListRequestSchema), cp!.keys.read)).toMatchObject({ response: { files: [] } });

    const plaintext = fileClient(cp!.address);
    clients.push(plaintext);
    expect((await unary(plaintext, "list", create(ListRequestSchema), cp!.keys.read)).error?.code).toBe(status.UNAVAILABLE);

    // Without a client CA, agents use the join token.
    await agent({ hostname: "web-1", joinToken: TEST_JOIN_TOKEN }).welcome;
    expect(await finalStatus(agent({ hostname: "web-2" }))).toEqual({ code: status.UNAUTHENTICATED, details: "join token required" });
  });

  it("refuses to start with a certificate and key that do not belong together, or a client CA that is no PEM", async () => {
    const otherLeaf = makeLeaf(ca, "other.trustplane.test");
    await expect(
      startTestControlPlane({ tls: { certPem: Buffer.from(serverLeaf.certPem), keyPem: Buffer.from(otherLeaf.keyPem) } }),
    ).rejects.toThrow(/^control plane TLS certificate or key: /);
    await expect(
      startTestControlPlane({
        tls: { certPem: Buffer.from(serverLeaf.certPem), keyPem: Buffer.from(serverLeaf.keyPem), clientCaPem: Buffer.from("not a pem") },
      }),
    ).rejects.toThrow("control plane client CA: no PEM certificate found");
  });
});

describe("control plane with mutual TLS for agents", () => {
  it("registers an agent by its certificate, with no join token", async () => {
    await start(true);
    const good = agent({ hostname: "web-1", cert: web1 });
    await good.welcome;
    expect(cp!.controlPlane.registry.list().map((view) => [view.hostname, view.state])).toEqual([["web-1", "online"]]);
  });

  it("refuses a hello for another hostname than the certificate's, with PERMISSION_DENIED", async () => {
    await start(true);
    const liar = agent({ hostname: "web-2", cert: web1 });
    expect(await finalStatus(liar)).toEqual({ code: status.PERMISSION_DENIED, details: 'agent certificate is for "web-1", not "web-2"' });
    expect(cp!.controlPlane.registry.list()).toEqual([]);
  });

  it.each([
    ["no client certificate, even with the join token", undefined, TEST_JOIN_TOKEN],
    ["a certificate from another CA", "stranger", undefined],
  ] as const)("refuses an agent with %s: UNAUTHENTICATED before its hello", async (_case, which, joinToken) => {
    await start(true);
    const refused = agent({ hostname: "web-1", cert: which === "stranger" ? stranger : undefined, joinToken });
    expect(await finalStatus(refused)).toEqual({ code: status.UNAUTHENTICATED, details: "agent client certificate required" });
    expect(cp!.controlPlane.registry.list()).toEqual([]);
  });

  it("serves client-API callers without a client certificate", async () => {
    await start(true);
    const files = fileClient(cp!.address, channel());
    clients.push(files);
    const uploaded = await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(ca.certPem) }), cp!.keys.write);
    expect(uploaded.error).toBeUndefined();
    // A client that does not trust the control plane's CA gets no connection.
    const untrusting = fileClient(cp!.address, untrustingChannel);
    clients.push(untrusting);
    expect((await unary(untrusting, "list", create(ListRequestSchema), cp!.keys.read)).error?.code).toBe(status.UNAVAILABLE);
  });

  it("a second stream with the same certificate replaces the first; its command fails `agent reconnected`", async () => {
    await start(true);
    const files = fileClient(cp!.address, channel());
    const certificates = certificateClient(cp!.address, channel());
    clients.push(files, certificates);
    await unary(files, "upload", create(UploadRequestSchema, { name: "ca.pem", content: Buffer.from(ca.certPem) }), cp!.keys.write);
    const first = agent({ hostname: "web-1", cert: web1 });
    await first.welcome;
    const job = streamJob(certificates, "installCA", create(InstallCARequestSchema, { target: "web-1", name: "fleet", object: "ca.pem" }), cp!.keys.write);
    await first.nextCommand();

    const second = agent({ hostname: "web-1", cert: web1 });
    await second.welcome;
    expect(await finalStatus(first)).toEqual({ code: status.ABORTED, details: "replaced by a newer stream for the same hostname" });
    const { events, error } = await job;
    expect(error).toBeUndefined();
    const results = events.flatMap((event) => (event.event.case === "result" ? [event.event.value] : []));
    expect(results.map((result) => [result.hostname, result.status, result.error])).toEqual([["web-1", ResultStatus.FAILED, "agent reconnected"]]);
    expect(cp!.controlPlane.registry.view("web-1")?.state).toBe("online");
  });

  it("a second stream with another certificate for the same hostname is refused ALREADY_EXISTS; the first stays", async () => {
    await start(true);
    const first = agent({ hostname: "web-1", cert: web1 });
    await first.welcome;
    const impostor = agent({ hostname: "web-1", cert: web1Again });
    expect(await finalStatus(impostor)).toEqual({ code: status.ALREADY_EXISTS, details: 'agent "web-1" is already connected with another identity' });
    await first.roundTrip();
    expect(cp!.controlPlane.registry.view("web-1")?.state).toBe("online");

    // Once the first is gone, the other certificate for web-1 may connect.
    first.end();
    await cp!.controlPlane.registry.whenOffline("web-1");
    await agent({ hostname: "web-1", cert: web1Again }).welcome;
  });
});
