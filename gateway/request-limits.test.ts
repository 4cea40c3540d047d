// The gateway's limits at the edge, each answered with the error body: URL
// length (414), header size (431), the upload form's parts and field sizes, and
// what it leaves to the control plane (the timeout range).
import * as http from "node:http";
import * as http2 from "node:http2";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GrpcStatus, StatusError } from "../common/status-error.js";
import { MAX_HEADER_BYTES } from "./dual-protocol-server.js";
import { MAX_URL_LENGTH } from "./early-refusal.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";

let fixture: GatewayFixture;

beforeAll(async () => {
  fixture = await startGatewayFixture();
});

afterAll(async () => {
  await fixture.close();
});

beforeEach(() => {
  fixture.fake.reset();
});

interface Answer {
  status: number;
  body: unknown;
}

/** A request through node:http, which sends what it is given (fetch would normalise the URL). */
function send(method: string, path: string, headers: http.OutgoingHttpHeaders = {}, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${fixture.gateway.url}${path}`, { method, headers, agent: false }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
    });
    request.on("error", reject);
    request.end(body);
  });
}

function multipart(parts: string[]): { headers: http.OutgoingHttpHeaders; body: string } {
  return {
    headers: { "content-type": "multipart/form-data; boundary=LIMITS" },
    body: `${parts.map((part) => `--LIMITS\r\n${part}\r\n`).join("")}--LIMITS--\r\n`,
  };
}

const field = (name: string, value: string) => `Content-Disposition: form-data; name="${name}"\r\n\r\n${value}`;

describe("URL length", () => {
  it(`takes a URL of ${MAX_URL_LENGTH} characters`, async () => {
    const path = `/${"a".repeat(MAX_URL_LENGTH - 1)}`;
    expect(await send("GET", path)).toEqual({
      status: 404,
      body: { error: "route not found", details: `no route for GET ${path}`, code: 404 },
    });
  });

  it.each([MAX_URL_LENGTH + 1, 3 * MAX_URL_LENGTH])("refuses a URL of %i characters with 414", async (length) => {
    const answer = await send("GET", `/file?${"q".repeat(length - 6)}`);
    expect(answer.status).toBe(414);
    expect(answer.body).toEqual({
      error: "URL too long",
      details: expect.stringMatching(new RegExp(`^the request target must be at most ${MAX_URL_LENGTH} characters`)),
      code: 414,
    });
    expect(fixture.fake.calls).toEqual([]);
  });

  it("refuses a long :path over HTTP/2 with 414", async () => {
    const session = http2.connect(fixture.gateway.url);
    try {
      const answer = await new Promise<Answer>((resolve, reject) => {
        const stream = session.request({ ":path": `/file/${"n".repeat(MAX_URL_LENGTH)}` });
        let status = 0;
        let text = "";
        stream.on("response", (headers) => (status = Number(headers[":status"])));
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => (text += chunk));
        stream.on("end", () => resolve({ status, body: JSON.parse(text) }));
        stream.on("error", reject);
      });
      expect(answer).toEqual({
        status: 414,
        body: {
          error: "URL too long",
          details: `the request target must be at most ${MAX_URL_LENGTH} characters, got ${MAX_URL_LENGTH + 6}`,
          code: 414,
        },
      });
    } finally {
      session.close();
    }
  });
});

describe("header size", () => {
  it(`refuses more than ${MAX_HEADER_BYTES} bytes of headers with 431`, async () => {
    const answer = await send("GET", "/file", { authorization: `Bearer ${"k".repeat(MAX_HEADER_BYTES)}` });
    expect(answer).toEqual({
      status: 431,
      body: { error: "request headers too large", details: "the request headers exceed the server's limit", code: 431 },
    });
    expect(fixture.fake.calls).toEqual([]);
  });

  it("takes an API key of a few KiB", async () => {
    fixture.fake.unaries.set("list", () => ({ files: [] }));
    const authorization = `Bearer ${"k".repeat(4096)}`;
    expect(await send("GET", "/file", { authorization })).toEqual({ status: 200, body: { files: [] } });
    expect(fixture.fake.calls.map((call) => call.authorization)).toEqual([authorization]);
  });
});

describe("Authorization header", () => {
  it("refuses one that is not printable ASCII (gRPC metadata could not carry it)", async () => {
    expect(await send("GET", "/file", { authorization: "Bearer caf\u00e9" })).toEqual({
      status: 400,
      body: {
        error: "invalid Authorization header",
        details: "the header must be printable ASCII, as `Bearer <API key>` is",
        code: 400,
      },
    });
    expect(fixture.fake.calls).toEqual([]);
  });
});

describe("upload form", () => {
  it("refuses more than 8 parts", async () => {
    const form = multipart(Array.from({ length: 9 }, (_, index) => field(`f${index}`, "x")));
    expect(await send("POST", "/file", form.headers, form.body)).toEqual({
      status: 400,
      body: { error: "invalid multipart body", details: "the form has more than 8 parts", code: 400 },
    });
  });

  it("refuses a name field over 1 KiB with 413", async () => {
    const form = multipart([field("name", "n".repeat(1025)), field("file", "PEM")]);
    expect(await send("POST", "/file", form.headers, form.body)).toEqual({
      status: 413,
      body: { error: 'form field "name" too large', details: "the field must be at most 1024 bytes", code: 413 },
    });
    expect(fixture.fake.calls).toEqual([]);
  });

  it("passes a file of any size within the body limit to the control plane, which judges it", async () => {
    fixture.fake.unaries.set("upload", () => {
      throw new StatusError(GrpcStatus.RESOURCE_EXHAUSTED, "object larger than 65536 bytes", "PEM objects are at most 64 KiB");
    });
    const form = multipart([field("name", "big.pem"), field("file", "x".repeat(200_000))]);
    expect(await send("POST", "/file", form.headers, form.body)).toEqual({
      status: 413,
      body: { error: "object larger than 65536 bytes", details: "PEM objects are at most 64 KiB", code: 413 },
    });
    expect(fixture.fake.calls.map((call) => (call.request as { content: Uint8Array }).content.byteLength)).toEqual([200_000]);
  });

  it("refuses a name that is not UTF-8", async () => {
    const body = Buffer.concat([
      Buffer.from(`--LIMITS\r\nContent-Disposition: form-data; name="name"\r\n\r\n`),
      Buffer.from([0xc3, 0x28]),
      Buffer.from(`\r\n--LIMITS\r\n${field("file", "PEM")}\r\n--LIMITS--`),
    ]);
    expect(await send("POST", "/file", { "content-type": "multipart/form-data; boundary=LIMITS" }, body)).toEqual({
      status: 400,
      body: { error: 'field "name" must be a string', details: "the name is not valid UTF-8", code: 400 },
    });
  });
});

describe("JSON text", () => {
  it("refuses a body that is not UTF-8", async () => {
    const body = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff]), Buffer.from('","object":"o.pem"}')]);
    expect(await send("POST", "/node/_all/certificate/ca", { "content-type": "application/json" }, body)).toEqual({
      status: 400,
      body: { error: "invalid JSON body", details: "the body is not valid UTF-8", code: 400 },
    });
  });
});

describe("timeout", () => {
  it("is passed through for the control plane to judge (one place decides the range)", async () => {
    fixture.fake.streams.set("deleteCA", () => {
      throw new StatusError(GrpcStatus.INVALID_ARGUMENT, "timeout_seconds must be at most 600, got 601");
    });
    expect(await send("DELETE", "/node/_all/certificate/ca/corp?timeout=601")).toEqual({
      status: 400,
      body: { error: "timeout_seconds must be at most 600, got 601", details: "control plane answered INVALID_ARGUMENT", code: 400 },
    });
    expect(fixture.fake.calls.map((call) => (call.request as { options: { timeoutSeconds: number } }).options.timeoutSeconds)).toEqual([601]);
  });
});
