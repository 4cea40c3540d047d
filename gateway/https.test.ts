// The gateway over HTTPS: one TLS port serving REST (JSON and NDJSON), Connect,
// gRPC-Web and gRPC, HTTP/1.1 and HTTP/2 chosen by ALPN, verified against a
// private CA by Node's clients and by the real curl.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as https from "node:https";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { promisify } from "node:util";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeCa, type TestCa } from "../test/fixtures/pki.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { FileService } from "../gen/trustplane/v1/file_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";
import { loopbackServerCertificate } from "./testing/tls-certificates.js";

const run = promisify(execFile);
const AUTHORIZATION = "Bearer tp_https_key";
const JOB_ID = "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f";
const FILES = { files: [{ name: "corp-ca.pem", sha256: "cd", size: 5n }] };
const FILES_JSON = JSON.stringify({ files: [{ name: "corp-ca.pem", sha256: "cd", size: 5 }] });

let ca: TestCa;
let caPem: Buffer;
let dir: string;
let caFile: string;
let fixture: GatewayFixture;

beforeAll(async () => {
  ca = makeCa({ commonName: "gateway https test CA" });
  caPem = Buffer.from(ca.certPem);
  dir = await mkdtemp(join(tmpdir(), "trustplane-gateway-https-"));
  caFile = join(dir, "ca.pem");
  await writeFile(caFile, ca.certPem);
  fixture = await startGatewayFixture({ tls: loopbackServerCertificate(ca), shutdownGraceMs: 1_000 });
});

afterAll(async () => {
  await fixture?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  fixture.fake.reset();
});

interface Answer {
  status: number;
  type: string | undefined;
  body: string;
  protocol: string;
}

interface Http1Init {
  method?: string;
  headers?: Record<string, string>;
  ca?: Buffer;
  /** Protocols offered by ALPN; none by default, as Node's https module does. */
  alpn?: string[];
}

function http1Request(path: string, init: Http1Init = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${fixture.gateway.url}${path}`,
      {
        method: init.method ?? "GET",
        headers: init.headers ?? {},
        ca: init.ca ?? caPem,
        agent: false,
        ...(init.alpn ? { ALPNProtocols: init.alpn } : {}),
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode!,
            type: response.headers["content-type"],
            body,
            protocol: (response.socket as tls.TLSSocket).alpnProtocol || "none",
          }),
        );
      },
    );
    request.on("error", reject);
    request.end();
  });
}

function http2Request(path: string, headers: http2.OutgoingHttpHeaders = {}): Promise<Answer> {
  const session = http2.connect(fixture.gateway.url, { ca: caPem });
  return new Promise<Answer>((resolve, reject) => {
    session.on("error", reject);
    const stream = session.request({ ":method": "GET", ":path": path, ...headers });
    let status = 0;
    let type: string | undefined;
    let body = "";
    stream.on("response", (response) => {
      status = Number(response[":status"]);
      type = response["content-type"] as string | undefined;
    });
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (body += chunk));
    stream.on("end", () => resolve({ status, type, body, protocol: session.alpnProtocol ?? "none" }));
    stream.on("error", reject);
  }).finally(() => session.close());
}

describe("HTTPS", () => {
  it("serves https:// URLs", () => {
    expect(fixture.gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it.each([
    ["offered by ALPN", ["http/1.1"], "http/1.1"],
    ["without ALPN", undefined, "none"],
  ])("answers REST over HTTP/1.1 %s, forwarding the authorization", async (_case, alpn, protocol) => {
    fixture.fake.unaries.set("list", () => FILES);
    const answer = await http1Request("/file", { headers: { authorization: AUTHORIZATION }, ...(alpn ? { alpn } : {}) });
    expect(answer).toEqual({ status: 200, type: "application/json", body: FILES_JSON, protocol });
    expect(fixture.fake.calls.map((call) => [call.method, call.authorization])).toEqual([["list", AUTHORIZATION]]);
  });

  it("answers REST over HTTP/2 negotiated by ALPN", async () => {
    fixture.fake.unaries.set("list", () => FILES);
    const answer = await http2Request("/file", { authorization: AUTHORIZATION });
    expect(answer).toEqual({ status: 200, type: "application/json", body: FILES_JSON, protocol: "h2" });
    expect(fixture.fake.calls.map((call) => call.authorization)).toEqual([AUTHORIZATION]);
  });

  it("streams NDJSON", async () => {
    fixture.fake.streams.set("deleteCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      send({ event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true } } });
      send({ event: { case: "summary", value: { jobId: JOB_ID, ok: 1, durationMs: 3n } } });
    });
    const answer = await http1Request("/node/web-1/certificate/ca/corp", {
      method: "DELETE",
      headers: { accept: "application/x-ndjson" },
    });
    expect(answer.status).toBe(200);
    expect(answer.type).toBe("application/x-ndjson");
    expect(answer.body.trimEnd().split("\n").map((line) => JSON.parse(line))).toEqual([
      { job_id: JOB_ID, hosts: ["web-1"] },
      { hostname: "web-1", status: "ok", name: "corp", changed: true },
      { job_id: JOB_ID, summary: { ok: 1, failed: 0, skipped: 0 }, duration_ms: 3 },
    ]);
  });

  const transports: [string, (baseUrl: string) => Transport][] = [
    ["Connect over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: caPem } })],
    ["Connect over HTTP/2", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions: { ca: caPem } })],
    ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { ca: caPem } })],
    ["gRPC-Web over HTTP/2", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2", nodeOptions: { ca: caPem } })],
    ["gRPC", (baseUrl) => createGrpcTransport({ baseUrl, nodeOptions: { ca: caPem } })],
  ];

  it.each(transports)("forwards %s", async (_name, makeTransport) => {
    fixture.fake.unaries.set("list", () => FILES);
    const files = createClient(FileService, makeTransport(fixture.gateway.url));
    const answer = await files.list({}, { headers: { authorization: AUTHORIZATION } });
    expect(answer.files.map((file) => [file.name, file.sha256, file.size])).toEqual([["corp-ca.pem", "cd", 5n]]);
    expect(fixture.fake.calls.map((call) => [call.method, call.authorization])).toEqual([["list", AUTHORIZATION]]);
  });

  it("works with curl --cacert over HTTP/1.1 and HTTP/2", async () => {
    fixture.fake.unaries.set("list", () => FILES);
    for (const [flag, version] of [["--http1.1", "1.1"], ["--http2", "2"]] as const) {
      const { stdout } = await run("curl", [
        "-sS", flag, "--cacert", caFile, "-H", `authorization: ${AUTHORIZATION}`,
        "-w", "\n%{http_code} %{http_version}", `${fixture.gateway.url}/file`,
      ]);
      expect(stdout).toBe(`${FILES_JSON}\n200 ${version}`);
    }
    expect(fixture.fake.calls.map((call) => call.authorization)).toEqual([AUTHORIZATION, AUTHORIZATION]);
  });

  it("is refused by curl that does not trust the CA", async () => {
    const failure = await run("curl", ["-sS", `${fixture.gateway.url}/health`, "--cacert", "/dev/null"]).then(
      () => undefined,
      (error: { code?: number }) => error.code,
    );
    expect(failure).toBe(77); // CURLE_SSL_CACERT_BADFILE: an empty CA file trusts nothing
    const untrusted = await http1Request("/health", { ca: Buffer.from(makeCa({ commonName: "another CA" }).certPem) }).then(
      () => undefined,
      (error: { code?: string }) => error.code,
    );
    expect(untrusted).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  });

  it("survives plaintext HTTP on its port", async () => {
    const { port } = new URL(fixture.gateway.url);
    const plaintext = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), "127.0.0.1", () => socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
      let received = "";
      socket.on("data", (chunk) => (received += chunk.toString("latin1")));
      socket.on("close", () => resolve(received));
      socket.on("error", () => undefined);
    });
    expect(plaintext).not.toContain("200");
    expect(await http1Request("/health")).toEqual({
      status: 200,
      type: "application/json",
      body: '{"status":"ok"}',
      protocol: "none",
    });
  });
});

describe("HTTPS close()", () => {
  it("lets an NDJSON stream in flight finish over TLS, then closes", async () => {
    const own = await startGatewayFixture({ tls: loopbackServerCertificate(ca), shutdownGraceMs: 10_000 });
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      own.fake.streams.set("deleteCA", async (_request, send) => {
        send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
        await released;
        send({ event: { case: "summary", value: { jobId: JOB_ID, durationMs: 1n } } });
      });
      const lines = await new Promise<string[]>((resolve, reject) => {
        const request = https.request(
          `${own.gateway.url}/node/web-1/certificate/ca/corp`,
          { method: "DELETE", headers: { accept: "application/x-ndjson" }, ca: caPem, agent: false },
          (response) => {
            let text = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => {
              text += chunk;
              if (text === `{"job_id":"${JOB_ID}","hosts":["web-1"]}\n`) {
                void own.gateway.close();
                release();
              }
            });
            response.on("end", () => resolve(text.trimEnd().split("\n")));
          },
        );
        request.on("error", reject);
        request.end();
      });
      expect(lines.map((line) => JSON.parse(line))).toEqual([
        { job_id: JOB_ID, hosts: ["web-1"] },
        { job_id: JOB_ID, summary: { ok: 0, failed: 0, skipped: 0 }, duration_ms: 1 },
      ]);
      await own.gateway.close();
      const afterClose = await new Promise<string>((resolve) => {
        const request = https.request(`${own.gateway.url}/health`, { ca: caPem, agent: false }, () => resolve("answered"));
        request.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
        request.end();
      });
      expect(afterClose).toBe("ECONNREFUSED");
    } finally {
      await own.close();
    }
  });
});
