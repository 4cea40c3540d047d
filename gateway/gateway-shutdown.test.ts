// close() (what SIGTERM calls): no new connections, requests in flight (NDJSON
// streams included) finish within the grace period, and requests that still
// arrive on open connections are 503 `gateway is shutting down` with
// `Connection: close`; readiness is 503 meanwhile.
import * as http2 from "node:http2";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const JOB_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const SHUTTING_DOWN = {
  error: "gateway is shutting down",
  details: "the gateway stopped taking requests; retry on a new connection",
  code: 503,
};
const fixtures: GatewayFixture[] = [];

afterEach(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.close();
});

async function start(): Promise<GatewayFixture> {
  const fixture = await startGatewayFixture({ shutdownGraceMs: 10_000 });
  fixtures.push(fixture);
  return fixture;
}

/** A deleteCA job that starts at once and sends its result and summary when released. */
function holdJob(fixture: GatewayFixture): { started: Promise<void>; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  fixture.fake.streams.set("deleteCA", async (_request, send) => {
    send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
    started();
    await released;
    send({ event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true } } });
    send({ event: { case: "summary", value: { jobId: JOB_ID, ok: 1, durationMs: 7n } } });
  });
  return { started: startedPromise, release };
}

/** One HTTP/1.1 connection: write requests on it, read everything until the server closes it. */
function rawConnection(url: string): { write(bytes: string): void; closed: Promise<string> } {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let received = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => (received += chunk));
  const closed = new Promise<string>((resolve, reject) => {
    socket.on("close", () => resolve(received));
    socket.on("error", reject);
  });
  return { write: (bytes) => socket.write(bytes), closed };
}

/** Splits a byte stream of HTTP/1.1 responses with Content-Length or chunked bodies. */
function parseResponses(bytes: string): { status: number; headers: Record<string, string>; body: string }[] {
  const responses = [];
  let rest = bytes;
  while (rest.length > 0) {
    const headEnd = rest.indexOf("\r\n\r\n");
    const [statusLine, ...lines] = rest.slice(0, headEnd).split("\r\n");
    const headers = Object.fromEntries(
      lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
    );
    rest = rest.slice(headEnd + 4);
    let body = "";
    if (headers["transfer-encoding"] === "chunked") {
      for (;;) {
        const sizeEnd = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, sizeEnd), 16);
        body += rest.slice(sizeEnd + 2, sizeEnd + 2 + size);
        rest = rest.slice(sizeEnd + 2 + size + 2);
        if (size === 0) break;
      }
    } else {
      const length = Number(headers["content-length"] ?? 0);
      body = rest.slice(0, length);
      rest = rest.slice(length);
    }
    responses.push({ status: Number(statusLine!.split(" ")[1]), headers, body });
  }
  return responses;
}

const DELETE_REQUEST = "DELETE /node/web-1/certificate/ca/corp HTTP/1.1\r\nHost: gateway\r\n";

describe("gateway close()", () => {
  it("answers requests arriving on an open keep-alive connection with 503 and Connection: close", async () => {
    const fixture = await start();
    const job = holdJob(fixture);
    const connection = rawConnection(fixture.gateway.url);
    connection.write(`${DELETE_REQUEST}\r\n`);
    await job.started;
    const closed = fixture.gateway.close();
    // Pipelined behind the request in flight: they reach the gateway while it closes.
    connection.write("GET /health/ready HTTP/1.1\r\nHost: gateway\r\n\r\nGET /file HTTP/1.1\r\nHost: gateway\r\n\r\n");
    await expect.poll(() => fixture.logs.filter((line) => line.msg === "request refused").length).toBe(2);
    job.release();
    const responses = parseResponses(await connection.closed);
    expect(responses.map((response) => [response.status, response.headers.connection])).toEqual([
      [200, "keep-alive"],
      [503, "close"],
    ]);
    expect(fixture.logs.filter((line) => line.msg === "request refused").map((line) => [line.path, line.status])).toEqual([
      ["/health/ready", 503],
      ["/file", 503],
    ]);
    expect(JSON.parse(responses[0]!.body)).toEqual({
      job_id: JOB_ID,
      results: [{ hostname: "web-1", status: "ok", name: "corp", changed: true }],
    });
    expect(responses[1]!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(responses[1]!.body)).toEqual(SHUTTING_DOWN);
    await closed;
    expect(fixture.fake.calls.map((call) => call.method)).toEqual(["deleteCA"]);
  });

  it("lets an NDJSON stream in flight finish, and refuses new connections", async () => {
    const fixture = await start();
    const job = holdJob(fixture);
    const response = await fetch(`${fixture.gateway.url}/node/web-1/certificate/ca/corp`, {
      method: "DELETE",
      headers: { accept: "application/x-ndjson" },
    });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    expect(text).toBe(`{"job_id":"${JOB_ID}","hosts":["web-1"]}\n`);
    let closedYet = false;
    const closed = fixture.gateway.close().then(() => (closedYet = true));
    await expect(fetch(`${fixture.gateway.url}/health`)).rejects.toThrow();
    expect(closedYet).toBe(false);
    job.release();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value);
    expect(text.trimEnd().split("\n").map((line) => JSON.parse(line))).toEqual([
      { job_id: JOB_ID, hosts: ["web-1"] },
      { hostname: "web-1", status: "ok", name: "corp", changed: true },
      { job_id: JOB_ID, summary: { ok: 1, failed: 0, skipped: 0 }, duration_ms: 7 },
    ]);
    await closed;
  });

  it("lets an HTTP/2 stream in flight finish; the session goes away", async () => {
    const fixture = await start();
    const job = holdJob(fixture);
    const session = http2.connect(fixture.gateway.url);
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
    try {
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ":method": "DELETE", ":path": "/node/web-1/certificate/ca/corp" });
        let status = 0;
        let body = "";
        stream.on("response", (headers) => (status = Number(headers[":status"])));
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => (body += chunk));
        stream.on("end", () => resolve({ status, body }));
        stream.on("error", reject);
      });
      await job.started;
      const closed = fixture.gateway.close();
      await goaway;
      job.release();
      const { status, body } = await answer;
      expect(status).toBe(200);
      expect(JSON.parse(body)).toMatchObject({ job_id: JOB_ID, results: [{ hostname: "web-1", status: "ok" }] });
      await closed;
    } finally {
      session.destroy();
    }
  });
});
