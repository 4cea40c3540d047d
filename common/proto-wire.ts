// The few pieces of the protobuf binary wire format that the hand-written encoders
// and decoders on the control plane's hot paths share (server/command-frames.ts,
// server/job-event-frames.ts, server/hot-agent-messages.ts). Everything else goes
// through protobuf-es.

/** Wire type of varint fields (ints, bools, enums). */
export const WIRE_VARINT = 0;
/** Wire type of length-delimited fields (strings, bytes, messages). */
export const WIRE_LEN = 2;

/** The tag byte of `field` (1–15) with `wireType`. */
export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Encoded length of a varint, for 0 ≤ value ≤ Number.MAX_SAFE_INTEGER. */
export function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

/** Writes a varint (0 ≤ value ≤ Number.MAX_SAFE_INTEGER) at `offset`; returns the offset after it. */
export function writeVarint(buffer: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[offset++] = value;
  return offset;
}

/** Encoded length of a length-delimited field of `length` bytes whose tag is one byte. */
export function lenFieldLength(length: number): number {
  return 1 + varintLength(length) + length;
}

/** Writes a one-byte tag and a length prefix; returns the offset where the field's bytes go. */
export function writeLenPrefix(buffer: Uint8Array, offset: number, field: number, length: number): number {
  buffer[offset++] = tag(field, WIRE_LEN);
  return writeVarint(buffer, offset, length);
}
