// The gateway's listener: unparsable HTTP still gets the error body, and close()
// lets in-flight requests finish within the grace period, then cuts the rest.
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const JOB_ID = "3c5d8f0e-1111-4a4a-9b9b-222233334444";
const fixtures: GatewayFixture[] = [];

afterEach(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.close();
});

async function start(shutdownGraceMs: number): Promise<GatewayFixture> {
  const fixture = await startGatewayFixture({ shutdownGraceMs });
  fixtures.push(fixture);
  return fixture;
}

function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe("unparsable HTTP/1.1", () => {
  it("answers 400 with the error body and closes", async () => {
    const fixture = await start(1_000);
    const answer = await rawExchange(fixture.gateway.url, "GARBAGE\r\n\r\n");
    const [head, body] = answer.split("\r\n\r\n");
    expect(head!.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
    expect(head).toContain("content-type: application/json");
    expect(JSON.parse(body!)).toEqual({ error: "bad request", details: "the request is not valid HTTP/1.1", code: 400 });
  });
});

describe("garbage pipelined behind a request being answered", () => {
  it("ends the connection without writing an error answer into the answer under way", async () => {
    const fixture = await start(1_000);
    fixture.fake.streams.set("deleteCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      return new Promise<void>(() => undefined);
    });
    const { hostname, port } = new URL(fixture.gateway.url);
    const socket = net.connect(Number(port), hostname);
    let received = "";
    socket.setEncoding("latin1");
    const firstLine = new Promise<void>((resolve) =>
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (received.includes(`"hosts":["web-1"]}`)) resolve();
      }),
    );
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write("DELETE /node/web-1/certificate/ca/corp HTTP/1.1\r\nHost: x\r\nAccept: application/x-ndjson\r\n\r\n");
    await firstLine;
    socket.write("GARBAGE\r\n\r\n");
    await closed;
    expect(received.startsWith("HTTP/1.1 200 OK\r\n")).toBe(true);
    expect(received).not.toContain("400");
  });
});

describe("requests Node does not hand to a route as they are", () => {
  const HOSTLESS = { error: "bad request", details: "the request names no valid host (Host header or :authority)", code: 400 };

  it.each([
    ["an invalid Host on an RPC path", "POST /trustplane.v1.FileService/List HTTP/1.1\r\nHost: a b\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 400, HOSTLESS],
    ["HTTP/1.0 without Host on an RPC path", "POST /trustplane.v1.FileService/List HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 400, HOSTLESS],
    ["HTTP/1.0 without Host on a REST path", "GET /health HTTP/1.0\r\n\r\n", 400, HOSTLESS],
    ["CONNECT", "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", 405, { error: "method not allowed", details: "the gateway is not a proxy: CONNECT is not served", code: 405 }],
    ["an Expect other than 100-continue", "GET /health HTTP/1.1\r\nHost: x\r\nExpect: gzip\r\nConnection: close\r\n\r\n", 200, { status: "ok" }],
  ])("answers %s with the error body, and stays up", async (_case, bytes, status, body) => {
    const fixture = await start(1_000);
    const answer = await rawExchange(fixture.gateway.url, bytes);
    const [head, text] = answer.split("\r\n\r\n");
    expect(Number(head!.split(" ")[1])).toBe(status);
    expect(head!.toLowerCase()).toContain("content-type: application/json");
    expect(JSON.parse(text!)).toEqual(body);
    expect((await fetch(`${fixture.gateway.url}/health`)).status).toBe(200);
  });
});

describe("close()", () => {
  it("lets a request in flight finish, then stops accepting", async () => {
    const fixture = await start(10_000);
    let release!: () => void;
    const mayFinish = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const jobStarted = new Promise<void>((resolve) => (started = resolve));
    fixture.fake.streams.set("deleteCA", async (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      started();
      await mayFinish;
      send({ event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name: "corp" } } });
    });
    const pending = fetch(`${fixture.gateway.url}/node/web-1/certificate/ca/corp`, { method: "DELETE" });
    await jobStarted;
    const closed = fixture.gateway.close();
    await expect(fetch(`${fixture.gateway.url}/health`)).rejects.toThrow();
    release();
    const response = await pending;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      job_id: JOB_ID,
      results: [{ hostname: "web-1", status: "ok", name: "corp", changed: false }],
    });
    await closed;
  });

  it("cuts a stream still open after the grace period and cancels its control-plane call", async () => {
    const fixture = await start(100);
    fixture.fake.streams.set("deleteCA", (_request, send) => {
      send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } });
      return new Promise<void>(() => undefined);
    });
    const cancelled = fixture.fake.nextCancellation();
    const response = await fetch(`${fixture.gateway.url}/node/web-1/certificate/ca/corp`, {
      method: "DELETE",
      headers: { accept: "application/x-ndjson" },
    });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(`{"job_id":"${JOB_ID}","hosts":["web-1"]}\n`);
    await fixture.gateway.close();
    await expect(reader.read()).rejects.toThrow();
    expect(await cancelled).toBe("deleteCA");
  });
});
