// Prints where a V8 CPU profile (`node --cpu-prof`) spent its time: the functions
// with the most self time, and the project files and functions with the most total
// time (self time of every sample whose call stack passes through them).
//
//   npx tsx bench/cpu-profile-top.ts PROFILE.cpuprofile [--top N] [--window rounds-window.json] [--focus FUNCTION]
//
// --window keeps only the samples between startUs and endUs of the file (written
// by bench:fanout --cpu-prof: the fan-out rounds, without start-up and connects).
// --focus keeps only the samples whose stack passes through that function.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const marker = url.lastIndexOf("/node_modules/");
  if (marker >= 0) return url.slice(marker + 1);
  const repo = /\/(agent|server|gateway|common|gen|bench|cli)\/.*/.exec(url);
  return repo ? repo[0].slice(1) : url.replace(/^file:\/\//, "");
}

export interface SampleWindow {
  startUs: number;
  endUs: number;
}

/** Keeps only samples whose stack passes through a function of this name. */
export function summarizeProfile(profile: Profile, top: number, window?: SampleWindow, focus?: string): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  // Self time per node from the sample deltas (microseconds).
  const onStack = (id: number, name: string): boolean => {
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      if (byId.get(current)!.callFrame.functionName === name) return true;
    }
    return false;
  };
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  let totalUs = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (window && (at < window.startUs || at > window.endUs)) return;
    if (focus && !onStack(id, focus)) return;
    totalUs += delta;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });

  const selfByFunction = new Map<string, number>();
  const inclusiveByFile = new Map<string, number>();
  const inclusiveByFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const frame = node.callFrame;
    const key = `${frame.functionName || "(anonymous)"}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + us);
    const files = new Set<string>();
    const functions = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const { url, functionName, lineNumber } = byId.get(current)!.callFrame;
      if (!url || url.includes("/node_modules/") || !url.startsWith("file://")) continue;
      files.add(shortUrl(url));
      functions.add(`${functionName || "(anonymous)"}  ${shortUrl(url)}:${lineNumber + 1}`);
    }
    for (const file of files) inclusiveByFile.set(file, (inclusiveByFile.get(file) ?? 0) + us);
    for (const fn of functions) inclusiveByFunction.set(fn, (inclusiveByFunction.get(fn) ?? 0) + us);
  }
  const percent = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => `  ${percent(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
  return [
    `profile: ${(totalUs / 1e6).toFixed(1)} s${window ? " inside the window" : ""}${focus ? ` under ${focus}()` : ""}`,
    "self time by function:",
    ...rows(selfByFunction),
    "total time by project file:",
    ...rows(inclusiveByFile),
    "total time by project function:",
    ...rows(inclusiveByFunction),
    "",
  ].join("\n");
}

if (process.argv[1]?.endsWith("cpu-profile-top.ts")) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string", default: "25" }, window: { type: "string" }, focus: { type: "string" } },
  });
  const window = values.window ? (JSON.parse(readFileSync(values.window, "utf8")) as SampleWindow) : undefined;
  for (const file of positionals) {
    process.stdout.write(`== ${file}\n${summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as Profile, Number(values.top), window, values.focus)}`);
  }
}
