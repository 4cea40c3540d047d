// Remembers command results by command id, so that a command the control plane
// sends twice (after a reconnect, say) is answered from memory instead of run
// again; a duplicate of a command still running waits for the same result.
import type { CommandResult } from "../gen/trustplane/v1/agent_pb.js";

export interface CommandMemoryOptions {
  /** How long a finished result is remembered; default 10 minutes. */
  ttlMs?: number;
  /** At most this many ids; the oldest are forgotten first. Default 10,000. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  result: Promise<CommandResult>;
  /** Time after which the entry is forgotten; Infinity while the command runs. */
  expiresAt: number;
}

export class CommandMemory {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: CommandMemoryOptions = {}) {
    this.ttlMs = options.ttlMs ?? 10 * 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The remembered result for `id`, or `execute()`'s, remembered. An empty id is never remembered. */
  run(id: string, execute: () => Promise<CommandResult>): Promise<CommandResult> {
    if (id === "") return execute();
    const now = this.now();
    const known = this.entries.get(id);
    if (known && known.expiresAt > now) return known.result;
    if (known) this.entries.delete(id);
    this.evict(now);
    const entry: Entry = { result: execute(), expiresAt: Infinity };
    this.entries.set(id, entry);
    entry.result.then(
      () => {
        entry.expiresAt = this.now() + this.ttlMs;
      },
      () => {
        if (this.entries.get(id) === entry) this.entries.delete(id);
      },
    );
    return entry.result;
  }

  /** Drops expired entries from the oldest end, then the oldest finished ones while over capacity. */
  private evict(now: number): void {
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now && this.entries.size < this.maxEntries) break;
      if (entry.expiresAt === Infinity && this.entries.size < this.maxEntries * 2) continue;
      this.entries.delete(id);
    }
  }
}
