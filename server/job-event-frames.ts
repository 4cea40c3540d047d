// Encodes each job event once for every client that streams it. InstallCA, UpdateCA,
// DeleteCA, ListCA and WatchJob all answer `{JobEvent event = 1;}`, so one frame,
// `0x0a len(JobEvent) JobEvent`, is the encoded response of each of them; the gRPC
// serializer writes a frame as it is (common/grpc-service-definition.ts). A host's
// result without certificates (every install, update and delete) is encoded by hand,
// everything else through protobuf-es. The frame is cached with the event, so the
// gateway, a second client and a WatchJob share one encoding.
import { toBinary } from "@bufbuild/protobuf";
import { lenFieldLength, tag, varintLength, WIRE_VARINT, writeLenPrefix, writeVarint } from "../common/proto-wire.js";
import { JobEventSchema, type HostResult, type JobEvent } from "../gen/trustplane/v1/common_pb.js";

const RESPONSE_EVENT_FIELD = 1;
const JOB_EVENT_RESULT_FIELD = 2;
const RESULT = { hostname: 1, status: 2, name: 3, changed: 4, error: 5 } as const;
const MAX_INT32 = 0x7fffffff;

const frames = new WeakMap<JobEvent, Buffer>();

/** The encoded `{event}` response carrying `event`. */
export function jobEventFrame(event: JobEvent): Buffer {
  let frame = frames.get(event);
  if (!frame) {
    frame = encodeFrame(event);
    frames.set(event, frame);
  }
  return frame;
}

function encodeFrame(event: JobEvent): Buffer {
  if (event.event.case === "result" && !event.$unknown) {
    const frame = encodeResultFrame(event.event.value);
    if (frame) return frame;
  }
  const body = toBinary(JobEventSchema, event);
  const frame = Buffer.allocUnsafe(lenFieldLength(body.byteLength));
  frame.set(body, writeLenPrefix(frame, 0, RESPONSE_EVENT_FIELD, body.byteLength));
  return frame;
}

/** A result without certificates, encoded as protobuf-es would (fields in number order, defaults left out); undefined otherwise. */
function encodeResultFrame(result: HostResult): Buffer | undefined {
  const { status } = result;
  if (result.certificates.length > 0 || result.$unknown || !Number.isInteger(status) || status < 0 || status > MAX_INT32) return undefined;
  const hostname = stringLength(result.hostname);
  const name = stringLength(result.name);
  const error = stringLength(result.error);
  const resultLength =
    optionalLenLength(hostname) + (status === 0 ? 0 : 1 + varintLength(status)) + optionalLenLength(name) + (result.changed ? 2 : 0) + optionalLenLength(error);
  const eventLength = lenFieldLength(resultLength);
  const frame = Buffer.allocUnsafe(lenFieldLength(eventLength));
  let offset = writeLenPrefix(frame, 0, RESPONSE_EVENT_FIELD, eventLength);
  offset = writeLenPrefix(frame, offset, JOB_EVENT_RESULT_FIELD, resultLength);
  offset = writeString(frame, offset, RESULT.hostname, result.hostname, hostname);
  if (status !== 0) {
    frame[offset++] = tag(RESULT.status, WIRE_VARINT);
    offset = writeVarint(frame, offset, status);
  }
  offset = writeString(frame, offset, RESULT.name, result.name, name);
  if (result.changed) {
    frame[offset++] = tag(RESULT.changed, WIRE_VARINT);
    frame[offset++] = 1;
  }
  writeString(frame, offset, RESULT.error, result.error, error);
  return frame;
}

function stringLength(value: string): number {
  return value.length === 0 ? 0 : Buffer.byteLength(value, "utf8");
}

function optionalLenLength(length: number): number {
  return length === 0 ? 0 : lenFieldLength(length);
}

function writeString(frame: Buffer, offset: number, field: number, value: string, length: number): number {
  if (length === 0) return offset;
  offset = writeLenPrefix(frame, offset, field, length);
  return offset + frame.write(value, offset, length, "utf8");
}
