// The seam between the stream and the processors: the stream hands over commands
// and writes back results, and never knows what a certificate is.
import type { Command, CommandResult } from "../gen/trustplane/v1/agent_pb.js";

export interface CommandHandler {
  /** Never rejects: every failure is a FAILED result carrying the command's id. */
  handle(command: Command): Promise<CommandResult>;
}
