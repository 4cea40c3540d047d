// Every call the gateway makes for a caller carries the caller's address as
// x-forwarded-for, whatever the caller claims in its own x-forwarded-for.
import * as http2 from "node:http2";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FileService } from "../gen/trustplane/v1/file_pb.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

const SPOOFED = { "x-forwarded-for": "203.0.113.9" };

let fixture: GatewayFixture;

beforeAll(async () => {
  fixture = await startGatewayFixture();
  fixture.fake.unaries.set("list", () => ({ files: [] }));
  fixture.fake.unaries.set("get", () => ({ file: { name: "a.pem" }, content: new Uint8Array() }));
});

afterAll(async () => {
  await fixture.close();
});

beforeEach(() => {
  fixture.fake.calls.length = 0;
  fixture.fake.forwardedFor.length = 0;
});

describe("x-forwarded-for", () => {
  it("a REST call carries the caller's address over HTTP/1.1", async () => {
    expect((await fetch(`${fixture.gateway.url}/file`, { headers: SPOOFED })).status).toBe(200);
    expect((await fetch(`${fixture.gateway.url}/file/a.pem`)).status).toBe(200);
    expect(fixture.fake.calls.map((call) => call.method)).toEqual(["list", "get"]);
    expect(fixture.fake.forwardedFor).toEqual(["127.0.0.1", "127.0.0.1"]);
  });

  it("a REST call carries the caller's address over HTTP/2", async () => {
    const session = http2.connect(fixture.gateway.url);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":path": "/file", ...SPOOFED });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
        stream.resume();
      });
      expect(status).toBe(200);
    } finally {
      session.close();
    }
    expect(fixture.fake.forwardedFor).toEqual(["127.0.0.1"]);
  });

  const transports: [string, (baseUrl: string) => Transport][] = [
    ["Connect", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
    ["gRPC-Web", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
    ["gRPC", (baseUrl) => createGrpcTransport({ baseUrl })],
  ];

  it.each(transports)("a forwarded %s call carries the caller's address", async (_name, makeTransport) => {
    const files = createClient(FileService, makeTransport(fixture.gateway.url));
    await files.list({}, { headers: SPOOFED });
    expect(fixture.fake.forwardedFor).toEqual(["127.0.0.1"]);
  });
});
