// Property-based fuzzing of the REST side of a running gateway: random and
// adversarial HTTP/1.1 requests, written byte for byte on raw sockets (fetch and
// node:http would normalise or refuse much of it), and the ones HTTP/2 can carry
// as HTTP/2 streams, against a gateway in front of
//   1. a fake control plane that answers every call plausibly (successes must then
//      also match the OpenAPI document), and
//   2. a chaos control plane that answers every call with a random gRPC error or a
//      random valid message (random job events for the streaming calls, ending in
//      a random error or not).
// Every answer must be a success (2xx with JSON, NDJSON, or the metrics text) or
// the error body {error, details, code} with `code` equal to the HTTP status, and
// never a 5xx, unless the control plane itself answered the code that maps to it
// (INTERNAL or UNKNOWN give 500, UNAVAILABLE 503...): those are counted apart.
// The gateway must stay up (GET /health is 200 at the end). The gateway writes no
// files, so it cannot touch one outside a sandbox.
//
// `npm test` runs a fixed seed and a bounded number of cases. A longer run, outside
// CI, with a seed of your own (a failure prints the seed and path to replay it):
//
//   TRUSTPLANE_FUZZ_RUNS=20000 TRUSTPLANE_FUZZ_SEED=$RANDOM \
//     npx vitest run --project unit gateway/rest-fuzz.test.ts
import * as http2 from "node:http2";
import * as net from "node:net";
import type { DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcStatus, StatusError } from "../common/status-error.js";
import { CertificateService } from "../gen/trustplane/v1/certificate_pb.js";
import { JobEventSchema, ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { FileService } from "../gen/trustplane/v1/file_pb.js";
import { AgentState, FleetService } from "../gen/trustplane/v1/fleet_pb.js";
import { JobService, JobState } from "../gen/trustplane/v1/job_pb.js";
import { openApiDocument } from "./openapi-document.js";
import type { RestRoute } from "./rest-route.js";
import { RestRouter } from "./rest-router.js";
import { REST_ROUTES } from "./rest-routes.js";
import type { JsonSchema } from "./rest-schemas.js";
import { startGatewayFixture, type GatewayFixture } from "./testing/gateway-fixture.js";
import { schemaViolations } from "./testing/json-schema-check.js";
import { arbitraryMessage } from "./testing/random-message.js";

const RUNS = Number(process.env.TRUSTPLANE_FUZZ_RUNS ?? 300);
const SEED = Number(process.env.TRUSTPLANE_FUZZ_SEED ?? 20_260_105);
/** One request must be answered within this; a hang is a failure, not a wait. */
const ANSWER_DEADLINE_MS = 10_000;

const SERVICES: readonly DescService[] = [CertificateService, FileService, JobService, FleetService];
const METHODS: readonly DescMethod[] = SERVICES.flatMap((service) => service.methods);

const JOB_ID = "550e8400-e29b-41d4-a716-446655440000";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

/** HTTP status for each gRPC code the control plane may answer (DESIGN.md section 3; RESOURCE_EXHAUSTED depends on the message). */
const STATUS_FOR_CODE: Readonly<Record<GrpcStatus, readonly number[]>> = {
  [GrpcStatus.OK]: [],
  [GrpcStatus.CANCELLED]: [500],
  [GrpcStatus.UNKNOWN]: [500],
  [GrpcStatus.INVALID_ARGUMENT]: [400],
  [GrpcStatus.DEADLINE_EXCEEDED]: [504],
  [GrpcStatus.NOT_FOUND]: [404],
  [GrpcStatus.ALREADY_EXISTS]: [409],
  [GrpcStatus.PERMISSION_DENIED]: [403],
  [GrpcStatus.RESOURCE_EXHAUSTED]: [413, 429],
  [GrpcStatus.FAILED_PRECONDITION]: [400],
  [GrpcStatus.ABORTED]: [500],
  [GrpcStatus.OUT_OF_RANGE]: [400],
  [GrpcStatus.UNIMPLEMENTED]: [501],
  [GrpcStatus.INTERNAL]: [500],
  [GrpcStatus.UNAVAILABLE]: [503],
  [GrpcStatus.DATA_LOSS]: [500],
  [GrpcStatus.UNAUTHENTICATED]: [401],
};

// ---------------------------------------------------------------- requests

interface FuzzRequest {
  method: string;
  /** Path and query exactly as written on the request line (UTF-8). */
  target: string;
  /** Header lines as written, `Name: value` or deliberately malformed. */
  headerLines: string[];
  body: Buffer;
  framing: "length" | "chunked";
}

const utf8 = (text: string) => Buffer.from(text, "utf8");
const unicode = (maxLength: number) => fc.string({ unit: "grapheme", maxLength });
/** True once in `oneIn` runs (fc.nat would be biased towards 0). */
const rarely = (oneIn: number) =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const long = (min: number, max: number, char: string) => fc.integer({ min, max }).map((length) => char.repeat(length));

/** Header text: printable ASCII mostly, then Latin-1 and UTF-8 bytes (obs-text), rarely control characters. */
const headerText = (maxLength: number) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.string({ maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom("é", "ü", "名", "\u00ff", "a", " "), maxLength }) },
    { weight: 1, arbitrary: unicode(maxLength) },
  );
const segment: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("web-1", "_all", "_any", "env:prod", "env%3Aprod%2Cgroup%3Aweb", "corp", "corp-ca.pem", JOB_ID) },
  {
    weight: 3,
    arbitrary: fc.constantFrom("..", ".", "%2e%2e", "%00", "%2F", "%2f..%2f", "%", "%E0%A4%A", "%FF", "%C0%AF", "a%20b", "~", "*", "\\", "%5C"),
  },
  { weight: 3, arbitrary: unicode(24).map(encodeURIComponent) },
  // Raw non-ASCII and control bytes: not valid HTTP, the parser's to refuse.
  { weight: 1, arbitrary: unicode(8) },
  { weight: 1, arbitrary: long(500, 9_000, "s") },
);

/** A route's path with its parameters filled in, now and then with doubled or trailing slashes. */
function pathFor(template: string): fc.Arbitrary<string> {
  const params = template.match(/\{[^}]+\}/g) ?? [];
  return fc
    .tuple(fc.array(segment, { minLength: params.length, maxLength: params.length }), rarely(10), rarely(10))
    .map(([values, doubleSlash, trailingSlash]) => {
      let index = 0;
      const path = template.replace(/\{[^}]+\}/g, () => values[index++]!);
      const slashed = doubleSlash ? path.replace(/\//g, "//") : path;
      return trailingSlash ? `${slashed}/` : slashed;
    });
}

const strangePath: fc.Arbitrary<string> = fc.oneof(
  fc.array(segment, { maxLength: 6 }).map((parts) => `/${parts.join("/")}`),
  fc.constantFrom("/", "*", "//", "/node", "/node/", "/file/", "/../etc/passwd", "/HEALTH", "/health/ready/x", "http://evil.test/file", "/%2e%2e/file", "/file%00", "/job/"),
);

const ALL_QUERY_NAMES = ["timeout", "dry_run", "max_concurrency", "max_errors", "source", "force", "status", "target", "limit", "offset", "state"];

/** Mostly the route's own parameter names, then others and odd ones. */
function queryName(names: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...(names.length > 0 ? names : ALL_QUERY_NAMES)) },
    { weight: 1, arbitrary: fc.constantFrom(...ALL_QUERY_NAMES) },
    { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "", "timeout[]", "%74imeout", "TIMEOUT") },
    { weight: 1, arbitrary: unicode(8).map(encodeURIComponent) },
  );
}
const queryValue = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "0", "1", "30", "600", "601", "-1", "1.5", "1e3", "4294967295", "4294967296", "true", "false", "TRUE", "10%25", "100%25", "101%25",
      "0%25", "10%", "custom", "system", "unmanaged", "running", "completed", "online", "offline", "", "%zz", "_all", "env:prod",
    ),
  },
  { weight: 2, arbitrary: unicode(12).map(encodeURIComponent) },
  // Raw non-ASCII bytes: not valid HTTP.
  { weight: 1, arbitrary: unicode(6) },
  { weight: 1, arbitrary: long(1_000, 9_000, "v") },
  { weight: 4, arbitrary: fc.constantFrom("5", "true", "web-1") },
);
function queryFor(names: readonly string[]): fc.Arbitrary<string> {
  const pair = fc
    .tuple(queryName(names), queryValue, rarely(8))
    .map(([name, value, bare]) => (bare ? name : `${name}=${value}`));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant("") },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.array(pair, { maxLength: 4 }), rarely(6))
        .map(([pairs, repeat]) => `?${(repeat && pairs.length > 0 ? [...pairs, pairs[0]!] : pairs).join("&")}`),
    },
    { weight: 1, arbitrary: fc.constantFrom("?", "?&&&", "?=", "?a=b=c", "?#frag", "?%") },
  );
}

const method: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE") },
  { weight: 2, arbitrary: fc.constantFrom("PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "FOO", "get", "G\u00e9T", "") },
);

const contentType = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json",
      "multipart/form-data; boundary=FUZZ", 'multipart/form-data; boundary="FUZZ"',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=",
      "multipart/mixed; boundary=FUZZ", "", ";", "application/json\u00e9", "application/jsonx", "application/x-ndjson",
    ),
  },
  { weight: 1, arbitrary: headerText(20) },
);

const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constant("Bearer tp_fuzz_key") },
  { weight: 2, arbitrary: headerText(40).map((text) => `Bearer ${text}`) },
  { weight: 1, arbitrary: long(1_000, 20_000, "k").map((key) => `Bearer ${key}`) },
  { weight: 1, arbitrary: fc.constantFrom("", "Bearer", "Basic Zm9vOmJhcg==", "bearer  x  y", "Bearer \u00ff\u00fe") },
);

const accept = fc.constantFrom(
  "application/json", "application/x-ndjson", "application/x-ndjson, application/json", "*/*", "text/html",
  "application/x-ndjson;q=0", "APPLICATION/X-NDJSON", ";;", "garbage/",
);

const headerName = fc.oneof(
  fc.constantFrom("X-Forwarded-For", "Content-Encoding", "Expect", "Range", "Cookie", "Connect-Protocol-Version", "Grpc-Timeout", "TE", "Origin"),
  fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/),
);
const extraHeader = fc.tuple(headerName, fc.oneof(headerText(30), fc.constantFrom("gzip", "chunked", "100-continue", "bytes=0-1", "1", "trailers"))).map(
  ([name, value]) => `${name}: ${value}`,
);
const malformedHeader = fc.constantFrom(
  "NoColonHeader", "Bad Header: x", ": empty-name", "X-Null: a\u0000b", "Content-Length: abc", "Content-Length: -1",
  "Content-Length: 1\r\nContent-Length: 2", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked, identity", "Host: a b",
  "Host: [::", " folded: line",
);

/** A value where a JSON body expects a string. */
const jsonField: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("corp", "corp-ca.pem", "web-1", "../x", "a".repeat(65), "", " ") },
  { weight: 3, arbitrary: unicode(30) },
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(unicode(5), { maxLength: 3 }), fc.object({ maxDepth: 1 })) },
  { weight: 1, arbitrary: long(10_000, 300_000, "x") },
);

const jsonBody: fc.Arbitrary<Buffer> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({ name: jsonField, object: jsonField, content: jsonField, extra: jsonField }, { requiredKeys: [] })
      .map((value) => utf8(JSON.stringify(value))),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => utf8(JSON.stringify(value) ?? "null")) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 200_000 }).map((depth) => utf8("[".repeat(depth) + "]".repeat(depth))) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 100_000 }).map((depth) => utf8(`${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '{"name":"a","name":"b","object":"o"}', '{"__proto__":{"name":"x"},"object":"o"}', '{"constructor":"x"}',
      '{"name":1,"object":[]}', "null", "[]", '""', "{", '{"name":"\\ud800","object":"o"}', '\ufeff{"name":"a","object":"b"}',
      "", "   ", '{"name":"a"}garbage', "1e999999", '{"name":"corp","object":"o.pem","content":"' + PEM.replace(/\n/g, "\\n") + '"}',
    ).map(utf8),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.record({ name: jsonField, object: jsonField }).map((value) => utf8(JSON.stringify(value))), fc.nat(), fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88]))
      .map(([bytes, at, bad]) => {
        const cut = at % (bytes.length + 1);
        return Buffer.concat([bytes.subarray(0, cut), Buffer.from(bad), bytes.subarray(cut)]);
      }),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1_000_000, max: 1_200_000 }).map((size) => utf8(JSON.stringify({ name: "big", content: "x".repeat(size) }))) },
);

interface FormPartSpec {
  name: string;
  filename: string | null;
  content: Buffer;
  headers: "normal" | "none" | "no-name" | "not-form-data" | "garbage";
}

const formPart: fc.Arbitrary<FormPartSpec> = fc.record({
  name: fc.oneof({ weight: 4, arbitrary: fc.constantFrom("name", "file") }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom("force", "", "名前", 'a"b'), unicode(10)) }),
  filename: fc.option(fc.oneof(fc.constantFrom("ca.pem", "../../etc/passwd", ""), unicode(10)), { nil: null }),
  content: fc.oneof(
    { weight: 4, arbitrary: fc.oneof(fc.constantFrom("corp-ca.pem", PEM, ""), unicode(30)).map(utf8) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 1_100_000 }).map((size) => Buffer.alloc(size, 0x70)) },
    { weight: 1, arbitrary: fc.constant(utf8("text\r\n--FUZZ-not-quite\r\n")) },
  ),
  headers: fc.oneof(
    { weight: 6, arbitrary: fc.constant("normal" as const) },
    { weight: 1, arbitrary: fc.constantFrom("none", "no-name", "not-form-data", "garbage") },
  ),
});

const multipartBody: fc.Arbitrary<{ contentType: string; body: Buffer }> = fc
  .record({
    boundary: fc.oneof({ weight: 4, arbitrary: fc.constant("FUZZ") }, { weight: 1, arbitrary: fc.oneof(unicode(80), fc.constantFrom("", "a".repeat(71), "sp ace")) }),
    declared: fc.constantFrom("same", "same", "same", "other", "missing"),
    parts: fc.array(formPart, { maxLength: 12 }),
    closed: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    preamble: fc.option(unicode(10), { nil: undefined }),
  })
  .map(({ boundary, declared, parts, closed, preamble }) => {
    const chunks: Buffer[] = [];
    if (preamble !== undefined) chunks.push(utf8(`${preamble}\r\n`));
    for (const part of parts) {
      const filename = part.filename === null ? "" : `; filename="${part.filename}"`;
      const headers = {
        normal: `Content-Disposition: form-data; name="${part.name}"${filename}\r\n`,
        none: "",
        "no-name": `Content-Disposition: form-data${filename}\r\n`,
        "not-form-data": `Content-Disposition: attachment; name="${part.name}"\r\n`,
        garbage: "Content-Disposition\r\n",
      }[part.headers];
      chunks.push(utf8(`--${boundary}\r\n${headers}\r\n`), part.content, utf8("\r\n"));
    }
    if (closed) chunks.push(utf8(`--${boundary}--\r\n`));
    const type =
      declared === "missing" ? "multipart/form-data" : `multipart/form-data; boundary=${declared === "same" ? boundary : "OTHER"}`;
    return { contentType: type, body: Buffer.concat(chunks) };
  });

/** A body the route takes (valid names and fields), for requests to get past the gateway's checks. */
function validBodyFor(route: RestRoute | undefined): fc.Arbitrary<readonly [string | undefined, Buffer]> {
  const name = fc.constantFrom("corp", "corp-ca.pem", "web_1", "x");
  if (route?.body?.kind === "json") {
    const fields = Object.keys(route.body.fields);
    return fc
      .tuple(fc.array(name, { minLength: fields.length, maxLength: fields.length }), fc.constantFrom(undefined, "application/json"))
      .map(([values, type]) => [type, utf8(JSON.stringify(Object.fromEntries(fields.map((field, index) => [field, values[index]]))))] as const);
  }
  if (route?.body?.kind === "upload") {
    return name.map(
      (value) =>
        [
          "multipart/form-data; boundary=FUZZ",
          utf8(
            `--FUZZ\r\nContent-Disposition: form-data; name="name"\r\n\r\n${value}\r\n` +
              `--FUZZ\r\nContent-Disposition: form-data; name="file"; filename="ca.pem"\r\n\r\n${PEM}\r\n--FUZZ--\r\n`,
          ),
        ] as const,
    );
  }
  return fc.constant([undefined, Buffer.alloc(0)] as const);
}

/** A request line (method, path, query) and body aimed at a route, or at no route at all. */
const requestLine = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(...REST_ROUTES).chain((route) =>
      fc.record({
        method: fc.oneof({ weight: 5, arbitrary: fc.constant(route.method as string) }, { weight: 1, arbitrary: method }),
        path: pathFor(route.path),
        query: queryFor(Object.keys(route.query)),
        validBody: validBodyFor(route),
      }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ method, path: strangePath, query: queryFor([]), validBody: validBodyFor(undefined) }) },
);

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    line: requestLine,
    authorization: fc.option(authorization, { nil: undefined, freq: 4 }),
    accept: fc.option(accept, { nil: undefined, freq: 2 }),
    body: fc.oneof(
      { weight: 3, arbitrary: fc.constant("valid" as const) },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.tuple(fc.option(contentType, { nil: undefined, freq: 4 }), jsonBody) },
      { weight: 2, arbitrary: multipartBody.map(({ contentType: type, body }) => [type, body] as const) },
    ),
    extraHeaders: fc.array(extraHeader, { maxLength: 3 }),
    malformed: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: malformedHeader }),
    framing: fc.constantFrom("length", "length", "length", "chunked"),
  })
  .map((spec) => {
    const body = spec.body === "valid" ? spec.line.validBody : spec.body;
    const headerLines: string[] = [];
    if (spec.authorization !== undefined) headerLines.push(`Authorization: ${spec.authorization}`);
    if (spec.accept !== undefined) headerLines.push(`Accept: ${spec.accept}`);
    if (body?.[0] !== undefined) headerLines.push(`Content-Type: ${body[0]}`);
    headerLines.push(...spec.extraHeaders);
    if (spec.malformed !== undefined) headerLines.push(spec.malformed);
    return {
      method: spec.line.method,
      target: `${spec.line.path}${spec.line.query}`,
      headerLines,
      body: body?.[1] ?? Buffer.alloc(0),
      framing: spec.framing as FuzzRequest["framing"],
    };
  });

function requestBytes(request: FuzzRequest): Buffer {
  const framing =
    request.framing === "chunked" && request.body.length > 0
      ? "Transfer-Encoding: chunked\r\n"
      : `Content-Length: ${request.body.length}\r\n`;
  const head = utf8(
    `${request.method} ${request.target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
      request.headerLines.map((line) => `${line}\r\n`).join("") +
      framing +
      "\r\n",
  );
  if (!framing.startsWith("Transfer-Encoding")) return Buffer.concat([head, request.body]);
  const chunks: Buffer[] = [head];
  for (let offset = 0; offset < request.body.length; offset += 16_384) {
    const chunk = request.body.subarray(offset, offset + 16_384);
    chunks.push(utf8(`${chunk.length.toString(16)}\r\n`), chunk, utf8("\r\n"));
  }
  chunks.push(utf8("0\r\n\r\n"));
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------- answers

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Writes the request, reads until the gateway closes the connection, parses the (last final) response. */
function exchange(url: string, request: FuzzRequest): Promise<Answer> {
  const { port } = new URL(url);
  const bytes = requestBytes(request);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), "127.0.0.1");
    const received: Buffer[] = [];
    socket.setTimeout(ANSWER_DEADLINE_MS, () => {
      socket.destroy();
      reject(new Error(`no answer within ${ANSWER_DEADLINE_MS} ms`));
    });
    // The gateway may answer (413, 400...) and close before it read everything we send.
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.on("close", () => {
      try {
        resolve(parseAnswer(Buffer.concat(received), request.method === "HEAD"));
      } catch (error) {
        reject(error);
      }
    });
    // Not end(): a client that half-closes abandons its request (Node's HTTP server aborts it).
    socket.write(bytes);
  });
}

/**
 * The same request as an HTTP/2 stream on `session`; undefined when HTTP/2 cannot
 * carry it (a malformed method or header, which the client refuses to send).
 */
async function exchangeHttp2(session: http2.ClientHttp2Session, request: FuzzRequest): Promise<Answer | undefined> {
  // nghttp2 resets streams whose :path or header values hold bytes HTTP/2 forbids; those are not sent.
  if (!/^\/[\x21-\x7e]*$/.test(request.target)) return undefined;
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(request.method) || request.method === "CONNECT") return undefined;
  // Node's HTTP/2 client never sends the body of a HEAD request once the answer came.
  if (request.method === "HEAD" && request.body.length > 0) return undefined;
  const headers: http2.OutgoingHttpHeaders = { ":method": request.method, ":path": request.target };
  for (const line of request.headerLines) {
    const colon = line.indexOf(":");
    if (colon <= 0 || /[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]/.test(line)) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    // Framing and connection headers are HTTP/1.1's (HTTP/2 frames the body itself), or malformed ones.
    if (["host", "transfer-encoding", "te", "connection", "content-length"].includes(name)) continue;
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return undefined;
    headers[name] = line.slice(colon + 1).trim();
  }
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(headers, { endStream: false });
  } catch {
    return undefined;
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no answer within ${ANSWER_DEADLINE_MS} ms`));
    }, ANSWER_DEADLINE_MS);
    let status = 0;
    const answerHeaders: Record<string, string> = {};
    const body: Buffer[] = [];
    stream.on("response", (response) => {
      status = Number(response[":status"]);
      for (const [name, value] of Object.entries(response)) if (!name.startsWith(":")) answerHeaders[name] = String(value);
    });
    stream.on("data", (chunk: Buffer) => body.push(chunk));
    // The gateway may answer (413, 415...) before it read the body, and reset the rest.
    stream.on("error", () => undefined);
    stream.on("close", () => {
      clearTimeout(timer);
      if (status === 0) reject(new Error(`stream closed without an answer (reset ${stream.rstCode})`));
      else resolve({ status, headers: answerHeaders, body: Buffer.concat(body) });
    });
    stream.end(request.body);
  });
}

function parseAnswer(bytes: Buffer, head: boolean): Answer {
  let rest = bytes;
  for (;;) {
    const headEnd = rest.indexOf("\r\n\r\n");
    if (headEnd < 0) throw new Error(`no complete answer: ${JSON.stringify(rest.toString("latin1").slice(0, 200))}`);
    const [statusLine, ...lines] = rest.subarray(0, headEnd).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]);
    if (!Number.isInteger(status)) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) headers[line.slice(0, line.indexOf(":")).toLowerCase()] = line.slice(line.indexOf(":") + 1).trim();
    rest = rest.subarray(headEnd + 4);
    if (status === 100) continue;
    if (head) return { status, headers, body: Buffer.alloc(0) };
    if (headers["transfer-encoding"] === "chunked") return { status, headers, body: dechunk(rest) };
    const length = headers["content-length"] === undefined ? rest.length : Number(headers["content-length"]);
    if (rest.length < length) throw new Error(`answer body cut short: ${rest.length} of ${length} bytes`);
    return { status, headers, body: rest.subarray(0, length) };
  }
}

function dechunk(bytes: Buffer): Buffer {
  const chunks: Buffer[] = [];
  let rest = bytes;
  for (;;) {
    const sizeEnd = rest.indexOf("\r\n");
    if (sizeEnd < 0) throw new Error("chunked answer cut short");
    const size = parseInt(rest.subarray(0, sizeEnd).toString("latin1"), 16);
    if (size === 0) return Buffer.concat(chunks);
    chunks.push(rest.subarray(sizeEnd + 2, sizeEnd + 2 + size));
    rest = rest.subarray(sizeEnd + 2 + size + 2);
  }
}

/** What the control plane answered during one request, for judging a 5xx. */
interface ControlPlaneOutcome {
  called: boolean;
  /** The gRPC code the control plane failed the call with, if it did. */
  code?: GrpcStatus;
}

interface Tally {
  runs: number;
  reachedControlPlane: number;
  statuses: Map<number, number>;
  /** 5xx answers explained by the control plane's own code (INTERNAL, UNKNOWN, UNAVAILABLE...). */
  justified5xx: number;
}

function newTally(): Tally {
  return { runs: 0, reachedControlPlane: 0, statuses: new Map(), justified5xx: 0 };
}

const DOCUMENT = openApiDocument();
const ROUTER = new RestRouter(REST_ROUTES);

/** How a success body breaks the OpenAPI document's schema for its route and content type. */
function undocumented(request: FuzzRequest, type: string, value: unknown): string[] {
  const { route } = ROUTER.match(request.method, request.target.split("?", 1)[0]!);
  const operation = DOCUMENT.paths[route.path]![route.method.toLowerCase()] as {
    responses: Record<string, { content: Record<string, { schema: JsonSchema }> }>;
  };
  const schema = operation.responses["200"]!.content[type]?.schema;
  if (!schema) return [`${route.method} ${route.path} documents no ${type} answer`];
  return schemaViolations(value, schema, DOCUMENT.components.schemas);
}

/**
 * Throws (with the reason) unless the answer is one the gateway may give. With
 * `checkSchemas`, success bodies must also match the OpenAPI document (only for a
 * control plane that answers as the real one does: random messages can lack what
 * the real one always sets, such as a job's creation time).
 */
function judge(request: FuzzRequest, answer: Answer, outcome: ControlPlaneOutcome, tally: Tally, checkSchemas: boolean): void {
  tally.runs++;
  if (outcome.called) tally.reachedControlPlane++;
  tally.statuses.set(answer.status, (tally.statuses.get(answer.status) ?? 0) + 1);
  const justified = (status: number) =>
    outcome.called && outcome.code !== undefined && STATUS_FOR_CODE[outcome.code].includes(status);
  if (answer.status >= 500) {
    if (!justified(answer.status)) throw new Error(`HTTP ${answer.status} the control plane did not cause`);
    tally.justified5xx++;
  }
  if (answer.status < 200 || (answer.status >= 300 && answer.status < 400)) throw new Error(`unexpected HTTP ${answer.status}`);
  if (request.method === "HEAD") return;
  const type = answer.headers["content-type"] ?? "";
  const text = answer.body.toString("utf8");
  if (answer.status >= 400) {
    if (type !== "application/json") throw new Error(`error answer with Content-Type ${JSON.stringify(type)}`);
    checkErrorBody(JSON.parse(text), answer.status);
    return;
  }
  if (type === "application/json") {
    const value: unknown = JSON.parse(text);
    const violations = checkSchemas ? undocumented(request, type, value) : [];
    if (violations.length > 0) throw new Error(`answer not as documented: ${violations.join("; ")}`);
  } else if (type === "application/x-ndjson") {
    for (const line of text.split("\n").filter((line) => line.length > 0)) {
      const value = JSON.parse(line) as Record<string, unknown>;
      // Host results carry an `error` of their own; only the error body has a `code`.
      if ("code" in value) {
        checkErrorBody(value, value.code as number);
        if ((value.code as number) >= 500 && !justified(value.code as number)) {
          throw new Error(`NDJSON error line ${value.code} the control plane did not cause`);
        }
        continue;
      }
      const violations = checkSchemas ? undocumented(request, type, value) : [];
      if (violations.length > 0) throw new Error(`NDJSON line not as documented: ${violations.join("; ")}`);
    }
  } else if (!(type.startsWith("text/plain") && request.method === "GET" && request.target.split("?", 1)[0] === "/metrics")) {
    throw new Error(`success with Content-Type ${JSON.stringify(type)}`);
  }
}

function checkErrorBody(body: unknown, status: number): void {
  const record = body as Record<string, unknown>;
  const keys = Object.keys(record ?? {}).sort();
  if (JSON.stringify(keys) !== '["code","details","error"]') throw new Error(`error body keys ${JSON.stringify(keys)}`);
  if (typeof record.error !== "string" || record.error.length === 0) throw new Error("error body without error");
  if (typeof record.details !== "string" || record.details.length === 0) throw new Error("error body without details");
  if (record.code !== status) throw new Error(`error body code ${String(record.code)} for HTTP ${status}`);
}

// ---------------------------------------------------------------- control planes

/** Plausible answers to every call, as a healthy control plane would give. */
function scriptPlausibleAnswers(fixture: GatewayFixture): void {
  const { fake } = fixture;
  const job = (operation: string) => (_request: never, send: (event: never) => void) => {
    send({ event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"], operation } } } as never);
    send({ event: { case: "result", value: { hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true } } } as never);
    send({ event: { case: "summary", value: { jobId: JOB_ID, ok: 1, durationMs: 3n } } } as never);
  };
  for (const [name, operation] of [
    ["installCA", "certificate.install"],
    ["listCA", "certificate.list"],
    ["updateCA", "certificate.update"],
    ["deleteCA", "certificate.delete"],
    ["watchJob", "certificate.install"],
  ] as const) {
    fake.streams.set(name, job(operation));
  }
  const file = { name: "corp-ca.pem", sha256: "ab".repeat(32), size: 64n };
  const agent = { hostname: "web-1", labels: { env: "prod" }, state: AgentState.ONLINE, os: { id: "debian" } };
  const jobRecord = {
    id: JOB_ID,
    operation: "certificate.install",
    target: "web-1",
    state: JobState.COMPLETED,
    hostnames: ["web-1"],
    createdAt: timestampFromDate(new Date("2026-01-05T10:00:00Z")),
  };
  fake.unaries.set("upload", () => ({ file, changed: true }));
  fake.unaries.set("list", () => ({ files: [file] }));
  fake.unaries.set("get", () => ({ file, content: new TextEncoder().encode(PEM) }));
  fake.unaries.set("delete", () => ({ file }));
  fake.unaries.set("getJob", () => ({ job: jobRecord }));
  fake.unaries.set("listJobs", () => ({ jobs: [jobRecord], total: 1 }));
  fake.unaries.set("listAgents", () => ({ agents: [agent] }));
  fake.unaries.set("getAgent", () => ({ agent }));
  fake.unaries.set("forgetAgent", () => ({ agent }));
}

/** What the chaos control plane does with every call of one request. */
type ChaosPlan =
  | { kind: "answer"; seed: number; events: number }
  | { kind: "error"; code: GrpcStatus; message: string; details: string; eventsFirst: number; seed: number };

const grpcErrorCode = fc.constantFrom(
  ...(Object.values(GrpcStatus).filter((code) => typeof code === "number" && code !== GrpcStatus.OK) as GrpcStatus[]),
);

const chaosPlan: fc.Arbitrary<ChaosPlan> = fc.oneof(
  fc.record({ kind: fc.constant("answer" as const), seed: fc.integer(), events: fc.nat(4) }),
  fc.record({
    kind: fc.constant("error" as const),
    code: grpcErrorCode,
    message: fc.oneof(unicode(40), fc.constantFrom("", "object larger than 65536 bytes", "too many requests", "\u0000")),
    // grpc-js metadata values are ASCII (a grpc-js server cannot send anything else).
    details: fc.oneof(fc.string({ maxLength: 40 }), fc.constant("")),
    eventsFirst: fc.nat(2),
    seed: fc.integer(),
  }),
);

/** One deterministic sample of an arbitrary. */
function sampleOf<T>(arbitrary: fc.Arbitrary<T>, seed: number): T {
  return fc.sample(arbitrary, { seed, numRuns: 1 })[0]!;
}

const randomJobEvents = (count: number) => fc.array(arbitraryMessage(JobEventSchema), { minLength: count, maxLength: count });

function scriptChaos(fixture: GatewayFixture, plan: ChaosPlan): ControlPlaneOutcome {
  const outcome: ControlPlaneOutcome = { called: false };
  const { fake } = fixture;
  fake.streams.clear();
  fake.unaries.clear();
  for (const method of METHODS) {
    if (method.methodKind === "server_streaming") {
      fake.streams.set(method.localName, (_request, send) => {
        const events = plan.kind === "answer" ? plan.events : plan.eventsFirst;
        for (const event of sampleOf(randomJobEvents(events), plan.seed)) send(event as never);
        if (plan.kind === "error") {
          outcome.code = plan.code;
          throw new StatusError(plan.code, plan.message, plan.details);
        }
      });
    } else {
      fake.unaries.set(method.localName, () => {
        if (plan.kind === "error") {
          outcome.code = plan.code;
          throw new StatusError(plan.code, plan.message, plan.details);
        }
        return sampleOf(arbitraryMessage(method.output as DescMessage, { topLevelMessagesSet: true }), plan.seed);
      });
    }
  }
  return outcome;
}

// ---------------------------------------------------------------- properties

let fixture: GatewayFixture;

beforeAll(async () => {
  fixture = await startGatewayFixture({ processMetrics: false });
});

afterAll(async () => {
  await fixture?.close();
});

async function expectStillUp(): Promise<void> {
  const response = await fetch(`${fixture.gateway.url}/health`);
  expect([response.status, await response.json()]).toEqual([200, { status: "ok" }]);
}

const FUZZ_TIMEOUT_MS = Math.max(30_000, RUNS * 200);

describe("REST fuzz", () => {
  it(`answers ${RUNS} random requests in front of a plausible control plane (seed ${SEED})`, async () => {
    scriptPlausibleAnswers(fixture);
    const tally = newTally();
    await fc.assert(
      fc.asyncProperty(fuzzRequest, async (request) => {
        const callsBefore = fixture.fake.calls.length;
        const answer = await exchange(fixture.gateway.url, request);
        judge(request, answer, { called: fixture.fake.calls.length > callsBefore }, tally, true);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    await expectStillUp();
    expect(tally.justified5xx).toBe(0);
    // The requests must not all stop at the gateway's own checks.
    expect(tally.reachedControlPlane, JSON.stringify([...tally.statuses])).toBeGreaterThan(RUNS / 10);
  }, FUZZ_TIMEOUT_MS);

  it(`answers ${Math.ceil(RUNS / 2)} random HTTP/2 requests in front of a plausible control plane (seed ${SEED + 2})`, async () => {
    scriptPlausibleAnswers(fixture);
    const tally = newTally();
    await fc.assert(
      fc.asyncProperty(fuzzRequest, async (request) => {
        // A session of its own: Node ends a session that sees many refused streams (ENHANCE_YOUR_CALM).
        const session = http2.connect(fixture.gateway.url);
        session.on("error", () => undefined);
        try {
          const callsBefore = fixture.fake.calls.length;
          const answer = await exchangeHttp2(session, request);
          fc.pre(answer !== undefined);
          judge(request, answer!, { called: fixture.fake.calls.length > callsBefore }, tally, true);
        } finally {
          session.close();
        }
      }),
      { seed: SEED + 2, numRuns: Math.ceil(RUNS / 2) },
    );
    await expectStillUp();
    expect(tally.justified5xx).toBe(0);
    expect(tally.reachedControlPlane, JSON.stringify([...tally.statuses])).toBeGreaterThan(RUNS / 20);
  }, FUZZ_TIMEOUT_MS);

  it(`answers ${RUNS} random requests in front of a chaos control plane (seed ${SEED + 1})`, async () => {
    const tally = newTally();
    await fc.assert(
      fc.asyncProperty(fuzzRequest, chaosPlan, async (request, plan) => {
        const outcome = scriptChaos(fixture, plan);
        const callsBefore = fixture.fake.calls.length;
        const answer = await exchange(fixture.gateway.url, request);
        outcome.called = fixture.fake.calls.length > callsBefore;
        judge(request, answer, outcome, tally, false);
      }),
      { seed: SEED + 1, numRuns: RUNS },
    );
    await expectStillUp();
    expect(tally.reachedControlPlane, JSON.stringify([...tally.statuses])).toBeGreaterThan(RUNS / 10);
    // The 5xx accounting is exercised: some control-plane faults did come back as 5xx.
    expect(tally.justified5xx).toBeGreaterThan(0);
  }, FUZZ_TIMEOUT_MS);
});
