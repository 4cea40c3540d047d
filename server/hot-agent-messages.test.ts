import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arbitraryMessage } from "../gateway/testing/random-message.js";
import { CommandResultSchema, ConnectRequestSchema, ConnectResponseSchema, type ConnectRequest } from "../gen/trustplane/v1/agent_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { decodeHotAgentMessage, heartbeatFrame } from "./hot-agent-messages.js";

function encode(message: ConnectRequest): Buffer {
  return Buffer.from(toBinary(ConnectRequestSchema, message));
}

/** What fromBinary gives, or "refused" when it throws. */
function reference(bytes: Buffer): ConnectRequest | "refused" {
  try {
    return fromBinary(ConnectRequestSchema, bytes);
  } catch {
    return "refused";
  }
}

/** The hand decoder takes `message` and gives exactly what fromBinary gives. */
function decodedAsFromBinary(message: ConnectRequest): void {
  const bytes = encode(message);
  const hot = decodeHotAgentMessage(bytes);
  expect(hot).toBeDefined();
  expect(hot).toStrictEqual(fromBinary(ConnectRequestSchema, bytes));
}

/** The hand decoder either declines or gives exactly what fromBinary gives. */
function agreesWithFromBinary(bytes: Buffer): void {
  const hot = decodeHotAgentMessage(bytes);
  if (hot !== undefined) expect(hot).toStrictEqual(reference(bytes));
}

const asciiString = fc.string({ unit: "binary-ascii", maxLength: 300 });
const hotResult = fc.record({
  commandId: asciiString,
  status: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  changed: fc.boolean(),
  error: asciiString,
});

describe("decodeHotAgentMessage", () => {
  it("decodes results without certificates exactly as fromBinary does", () => {
    fc.assert(
      fc.property(hotResult, (value) => decodedAsFromBinary(create(ConnectRequestSchema, { kind: { case: "result", value } }))),
      { numRuns: 2000 },
    );
  });

  it("decodes heartbeats below 2^49 ms exactly as fromBinary does", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 49n - 1n }), (sentUnixMs) =>
        decodedAsFromBinary(create(ConnectRequestSchema, { kind: { case: "heartbeat", value: { sentUnixMs } } })),
      ),
      { numRuns: 1000 },
    );
  });

  it("declines or agrees with fromBinary on random agent messages of every kind", () => {
    fc.assert(
      fc.property(arbitraryMessage(ConnectRequestSchema), (message) => agreesWithFromBinary(encode(message as ConnectRequest))),
      { numRuns: 3000 },
    );
  });

  it("declines or agrees with fromBinary on random and damaged bytes", () => {
    const body = fc.uint8Array({ maxLength: 64 });
    const framed = fc.tuple(fc.constantFrom(0x12, 0x1a), body, fc.integer({ min: -2, max: 2 })).map(([kind, bytes, skew]) => {
      return Buffer.from([kind, Math.max(0, bytes.length + skew), ...bytes]);
    });
    const truncated = hotResult.chain((value) => {
      const bytes = encode(create(ConnectRequestSchema, { kind: { case: "result", value } }));
      return fc.integer({ min: 0, max: bytes.length }).map((cut) => bytes.subarray(0, cut));
    });
    fc.assert(fc.property(fc.oneof(framed, truncated, body.map((bytes) => Buffer.from(bytes))), agreesWithFromBinary), { numRuns: 5000 });
  });

  it.each([
    ["a hello", create(ConnectRequestSchema, { kind: { case: "hello", value: { hostname: "web-1" } } })],
    [
      "a result with certificates",
      create(ConnectRequestSchema, {
        kind: { case: "result", value: create(CommandResultSchema, { commandId: "j/web-1", status: ResultStatus.OK, certificates: [{ name: "corp" }] }) },
      }),
    ],
    ["a result with a non-ASCII error", create(ConnectRequestSchema, { kind: { case: "result", value: { commandId: "j/web-1", error: "échec" } } })],
    ["a negative status", create(ConnectRequestSchema, { kind: { case: "result", value: { commandId: "j/web-1", status: -1 as ResultStatus } } })],
    ["a heartbeat from 2^49 ms on", create(ConnectRequestSchema, { kind: { case: "heartbeat", value: { sentUnixMs: 2n ** 49n } } })],
    ["an empty message", create(ConnectRequestSchema)],
  ])("leaves %s to fromBinary", (_case, message) => {
    expect(decodeHotAgentMessage(encode(message))).toBeUndefined();
  });
});

describe("heartbeatFrame", () => {
  it("encodes the heartbeat reply exactly as toBinary does", () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), (nowMs) => {
        const expected = toBinary(ConnectResponseSchema, create(ConnectResponseSchema, { kind: { case: "heartbeat", value: { sentUnixMs: BigInt(nowMs) } } }));
        expect(heartbeatFrame(nowMs)).toEqual(Buffer.from(expected));
      }),
      { numRuns: 1000 },
    );
  });
});
