// The seam between a job and the stream of one online agent. The local
// implementation is AgentSession (one grpc-js stream); a dispatcher that reaches
// agents held by another control-plane replica would implement the same interface.
import type { CommandResult } from "../gen/trustplane/v1/agent_pb.js";

/**
 * Who waits for commands' results. One waiter per job, with a slot per host, so a
 * session keeps a (waiter, slot) pair per command instead of a closure.
 */
export interface CommandWaiter {
  /** The agent answered the command of `slot`. */
  settle(slot: number, result: CommandResult): void;
  /** The command of `slot` will get no answer (`agent disconnected`, `agent reconnected`). */
  fail(slot: number, error: string): void;
}

export interface AgentLink {
  /** The control plane's id for this stream (Welcome.session_id). */
  readonly sessionId: string;
  /** Commands sent and not yet answered, failed or forgotten. */
  readonly inFlight: number;
  /**
   * Sends an encoded ConnectResponse carrying command `commandId`; its result goes to
   * `waiter.settle(slot, …)`. False when the stream is already gone (nothing was sent).
   */
  dispatch(commandId: string, frame: Uint8Array, waiter: CommandWaiter, slot: number): boolean;
  /** Stops waiting for `commandId` (its job timed out); a late answer is then ignored. */
  forget(commandId: string): void;
  /** Another stream took over this hostname: fail in-flight commands and end this stream. */
  replace(): void;
}
