// Encodes a job's command once and stamps each host's command id on it. A
// ConnectResponse carrying a command is `0x12 len(Command) Command`, and protobuf
// fields may come in any order, so each host's frame is the id field followed by
// the shared encoding of every other field: the (up to 64 KiB) PEM is serialized
// once per job, not once per agent.
import { create, toBinary } from "@bufbuild/protobuf";
import { lenFieldLength, writeLenPrefix } from "../common/proto-wire.js";
import { CommandSchema, type Command } from "../gen/trustplane/v1/agent_pb.js";

const COMMAND_ID_FIELD = 1;
const CONNECT_RESPONSE_COMMAND_FIELD = 2;

export class CommandFrames {
  private readonly body: Uint8Array;

  /** `command` without its id (any id given is ignored). */
  constructor(command: Omit<Command, "id" | "$typeName" | "$unknown">) {
    this.body = toBinary(CommandSchema, create(CommandSchema, { ...command, id: "" }));
  }

  /** The encoded ConnectResponse `{command: {id: commandId, …}}`. */
  frame(commandId: string): Buffer {
    const idLength = Buffer.byteLength(commandId, "utf8");
    const commandLength = (idLength > 0 ? lenFieldLength(idLength) : 0) + this.body.byteLength;
    const frame = Buffer.allocUnsafe(lenFieldLength(commandLength));
    let offset = writeLenPrefix(frame, 0, CONNECT_RESPONSE_COMMAND_FIELD, commandLength);
    if (idLength > 0) {
      offset = writeLenPrefix(frame, offset, COMMAND_ID_FIELD, idLength);
      offset += frame.write(commandId, offset, "utf8");
    }
    frame.set(this.body, offset);
    return frame;
  }
}
