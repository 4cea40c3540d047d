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
