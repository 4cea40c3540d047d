// This process's open-files limits (RLIMIT_NOFILE), read from /proc: Node cannot
// raise its own, so benches start children through `ulimit -n` instead.
import { readFileSync } from "node:fs";

export interface OpenFilesLimit {
  soft: number;
  hard: number;
}

export function openFilesLimit(): OpenFilesLimit {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!match) throw new Error("cannot read Max open files from /proc/self/limits");
  const value = (text: string) => (text === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(text));
  return { soft: value(match[1]!), hard: value(match[2]!) };
}

/** Open files every process needs besides its connections. */
const FD_HEADROOM = 512;

/**
 * The soft open-files limit for the children of a bench with one server holding
 * `agents` connections and `agentProcs` workers sharing them (each agent a socket
 * and, while rebuilding, the pipes of a child); throws when the hard limit is too low.
 */
export function fleetOpenFiles(agents: number, agentProcs: number): { limit: OpenFilesLimit; forChildren: number } {
  const limit = openFilesLimit();
  const serverFiles = agents + FD_HEADROOM;
  const workerFiles = Math.ceil(agents / agentProcs) * 4 + FD_HEADROOM;
  const needed = Math.max(serverFiles, workerFiles);
  if (limit.hard < needed) throw new Error(`the hard open-files limit is ${limit.hard}; ${needed} are needed (raise it with ulimit -Hn as root)`);
  return { limit, forChildren: Math.min(limit.hard, Math.max(needed, limit.soft)) };
}
