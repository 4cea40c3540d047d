// Encodes a job's command once and stamps each host's command id on it. A
// ConnectResponse carrying a command is `0x12 len(Command) Command`, and protobuf
// fields may come in any order, so each host's frame is the id field followed by
// the shared encoding of every other field: the (up to 64 KiB) PEM is serialized
// once per job, not once per agent.
import { create, toBinary } from "@bufbuild/protobuf";
import { CommandSchema, type Command } from "../gen/trustplane/v1/agent_pb.js";

const COMMAND_ID_TAG = 0x0a; // field 1, length-delimited
const CONNECT_RESPONSE_COMMAND_TAG = 0x12; // ConnectResponse.command, field 2, length-delimited

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value >>>= 7;
    length++;
  }
  return length;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buffer[offset++] = value;
  return offset;
}

export class CommandFrames {
  private readonly body: Uint8Array;

  /** `command` without its id (any id given is ignored). */
  constructor(command: Omit<Command, "id" | "$typeName" | "$unknown">) {
    this.body = toBinary(CommandSchema, create(CommandSchema, { ...command, id: "" }));
  }

  /** The encoded ConnectResponse `{command: {id: commandId, …}}`. */
  frame(commandId: string): Buffer {
    const idLength = Buffer.byteLength(commandId, "utf8");
    const commandLength = (idLength > 0 ? 1 + varintLength(idLength) + idLength : 0) + this.body.byteLength;
    const frame = Buffer.allocUnsafe(1 + varintLength(commandLength) + commandLength);
    let offset = 0;
    frame[offset++] = CONNECT_RESPONSE_COMMAND_TAG;
    offset = writeVarint(frame, offset, commandLength);
    if (idLength > 0) {
      frame[offset++] = COMMAND_ID_TAG;
      offset = writeVarint(frame, offset, idLength);
      offset += frame.write(commandId, offset, "utf8");
    }
    frame.set(this.body, offset);
    return frame;
  }
}
