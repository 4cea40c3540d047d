// Hand-written wire code for the two messages every agent sends most: a command's
// result and a heartbeat (with the heartbeat's reply). At fleet scale protobuf-es's
// reflective fromBinary/toBinary cost more per host than routing the result did.
//
// The decoder takes only the plain shapes: `result {command_id, status, changed,
// error}` with ASCII strings, and `heartbeat {sent_unix_ms}` with a time below 2^49
// (a field given twice: the last one wins, as in protobuf). Anything else —
// a hello, certificates (a list_ca answer), a non-ASCII string, an unknown field, a
// malformed or unusual encoding — answers undefined, and the caller decodes it with
// fromBinary, which is the reference (server/hot-agent-messages.test.ts checks the
// two agree on random messages).
import { lenFieldLength, tag, varintLength, WIRE_LEN, WIRE_VARINT, writeLenPrefix, writeVarint } from "../common/proto-wire.js";
import type { ConnectRequest } from "../gen/trustplane/v1/agent_pb.js";

const REQUEST_RESULT = tag(2, WIRE_LEN);
const REQUEST_HEARTBEAT = tag(3, WIRE_LEN);
const RESULT_COMMAND_ID = tag(1, WIRE_LEN);
const RESULT_STATUS = tag(2, WIRE_VARINT);
const RESULT_CHANGED = tag(3, WIRE_VARINT);
const RESULT_ERROR = tag(4, WIRE_LEN);
const HEARTBEAT_SENT_UNIX_MS = tag(1, WIRE_VARINT);
const RESPONSE_HEARTBEAT_FIELD = 3;
const MAX_INT32 = 0x7fffffff;
/** Varints of up to 7 bytes (< 2^49) decode exactly into a double. */
const MAX_NUMBER_VARINT_BYTES = 7;

/** Where a decoder is in the bytes; `offset` is -1 once the encoding is not one it takes. */
class Cursor {
  offset: number;
  constructor(
    readonly bytes: Buffer,
    offset: number,
    readonly end: number,
  ) {
    this.offset = offset;
  }

  /** A varint of at most `maxBytes` bytes, or -1 (and offset -1). */
  varint(maxBytes: number): number {
    const { bytes, end } = this;
    let value = 0;
    let scale = 1;
    for (let index = 0; index < maxBytes && this.offset < end; index++) {
      const byte = bytes[this.offset++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    this.offset = -1;
    return -1;
  }

  /** A length-delimited ASCII string, or undefined (and offset -1). */
  ascii(): string | undefined {
    const length = this.varint(4);
    if (length < 0 || this.offset + length > this.end) {
      this.offset = -1;
      return undefined;
    }
    const start = this.offset;
    const stop = start + length;
    for (let index = start; index < stop; index++) {
      if (this.bytes[index]! >= 0x80) {
        this.offset = -1;
        return undefined;
      }
    }
    this.offset = stop;
    return this.bytes.toString("latin1", start, stop);
  }
}

/** `bytes` decoded if it is a plain result or heartbeat; undefined means: decode it with fromBinary. */
export function decodeHotAgentMessage(bytes: Buffer): ConnectRequest | undefined {
  const kind = bytes[0];
  if (kind !== REQUEST_RESULT && kind !== REQUEST_HEARTBEAT) return undefined;
  const cursor = new Cursor(bytes, 1, bytes.length);
  const length = cursor.varint(4);
  // Exactly one top-level field, filling the message.
  if (length < 0 || cursor.offset + length !== bytes.length) return undefined;
  return kind === REQUEST_RESULT ? decodeResult(cursor) : decodeHeartbeat(cursor);
}

function decodeResult(cursor: Cursor): ConnectRequest | undefined {
  let commandId = "";
  let status = 0;
  let changed = false;
  let error = "";
  while (cursor.offset >= 0 && cursor.offset < cursor.end) {
    switch (cursor.bytes[cursor.offset++]) {
      case RESULT_COMMAND_ID:
        commandId = cursor.ascii() ?? "";
        break;
      case RESULT_STATUS:
        status = cursor.varint(5);
        if (status > MAX_INT32) return undefined;
        break;
      case RESULT_CHANGED: {
        const value = cursor.varint(1);
        if (value > 1) return undefined;
        changed = value === 1;
        break;
      }
      case RESULT_ERROR:
        error = cursor.ascii() ?? "";
        break;
      default:
        return undefined;
    }
  }
  if (cursor.offset < 0) return undefined;
  return {
    $typeName: "trustplane.v1.ConnectRequest",
    kind: { case: "result", value: { $typeName: "trustplane.v1.CommandResult", commandId, status, changed, error, certificates: [] } },
  };
}

function decodeHeartbeat(cursor: Cursor): ConnectRequest | undefined {
  let sentUnixMs = 0;
  while (cursor.offset >= 0 && cursor.offset < cursor.end) {
    if (cursor.bytes[cursor.offset++] !== HEARTBEAT_SENT_UNIX_MS) return undefined;
    sentUnixMs = cursor.varint(MAX_NUMBER_VARINT_BYTES);
  }
  if (cursor.offset < 0) return undefined;
  return {
    $typeName: "trustplane.v1.ConnectRequest",
    kind: { case: "heartbeat", value: { $typeName: "trustplane.v1.Heartbeat", sentUnixMs: BigInt(sentUnixMs) } },
  };
}

/** The encoded ConnectResponse `{heartbeat: {sent_unix_ms: nowMs}}` (0 ≤ nowMs ≤ 2^53). */
export function heartbeatFrame(nowMs: number): Buffer {
  const heartbeatLength = nowMs === 0 ? 0 : 1 + varintLength(nowMs);
  const frame = Buffer.allocUnsafe(lenFieldLength(heartbeatLength));
  const offset = writeLenPrefix(frame, 0, RESPONSE_HEARTBEAT_FIELD, heartbeatLength);
  if (nowMs !== 0) {
    frame[offset] = HEARTBEAT_SENT_UNIX_MS;
    writeVarint(frame, offset + 1, nowMs);
  }
  return frame;
}
