// Failed authentication (no or unknown API key, wrong join token, missing agent
// certificate), logged at warn with the peer's address — at most one line per source
// address per window, the next line carrying how many were suppressed in between, so
// a client hammering the port cannot flood the log.
import type { Logger } from "../../common/logger.js";

export interface AuthFailure {
  /** `call.getPeer()`: "127.0.0.1:51234", "[::1]:51234". */
  peer: string;
  /** The RPC, "/trustplane.v1.FileService/List". */
  method: string;
  /** The refusal, "unknown API key". */
  reason: string;
}

export interface AuthFailureLogOptions {
  logger: Logger;
  /** One line per source address per window; default 10 s. */
  windowMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

interface Window {
  startedAt: number;
  suppressed: number;
}

/** Addresses remembered before old windows are swept out. */
const SWEEP_ABOVE = 1024;

/** "10.0.0.7:51234" → "10.0.0.7", "[::1]:51234" → "::1"; anything else as it is. */
export function peerAddress(peer: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(peer);
  if (bracketed) return bracketed[1]!;
  const colon = peer.lastIndexOf(":");
  if (colon > 0 && peer.indexOf(":") === colon && /^\d+$/.test(peer.slice(colon + 1))) return peer.slice(0, colon);
  return peer;
}

export class AuthFailureLog {
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(private readonly options: AuthFailureLogOptions) {
    this.windowMs = options.windowMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  record(failure: AuthFailure): void {
    const now = this.now();
    const address = peerAddress(failure.peer);
    const window = this.windows.get(address);
    if (window && now - window.startedAt < this.windowMs) {
      window.suppressed++;
      return;
    }
    const suppressed = window?.suppressed ?? 0;
    if (!window && this.windows.size >= SWEEP_ABOVE) this.sweep(now);
    this.windows.set(address, { startedAt: now, suppressed: 0 });
    this.options.logger.warn({ peer: failure.peer, method: failure.method, reason: failure.reason, suppressed }, "authentication failed");
  }

  private sweep(now: number): void {
    for (const [address, window] of this.windows) {
      if (now - window.startedAt >= this.windowMs) this.windows.delete(address);
    }
  }
}
