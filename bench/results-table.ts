// Prints the saved bench results (bench/results/*.json) as the Markdown tables of
// docs/benchmarks.md.
//
//   npx tsx bench/results-table.ts [--results DIR]
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

type Json = Record<string, unknown>;

const cell = (value: unknown, unit = ""): string => (value === null || value === undefined ? "–" : `${String(value)}${unit}`);

function fanoutTable(results: Json[]): string {
  const header =
    "| agents | procs | online | REST p50 | p90 | p99 | max | gRPC p50 | bare p50 | overhead_ratio (gRPC) | CPU/round server · gateway · agents (bare server · workers) | RSS/agent (bare) | heap/agent | failures | load |";
  const rule = `|${header.split("|").slice(1, -1).map(() => "---").join("|")}|`;
  const rows = results
    .sort((a, b) => (a.agents as number) - (b.agents as number))
    .map((r) => {
      const cpu = r.cpu_ms_per_round as { rest: Json; grpc: Json; bare: Json | null };
      const cpuText = `${cell(cpu.rest.server)} · ${cell(cpu.rest.gateway)} · ${cell(cpu.rest.agents)} ms (${cell(cpu.bare?.server)} · ${cell(cpu.bare?.workers)})`;
      const failures = (r.failures as string[]).length;
      return `| ${r.agents} | ${r.agent_procs} | ${cell(r.online_s, " s")} | ${cell(r.p50_ms, " ms")} | ${cell(r.p90_ms)} | ${cell(r.p99_ms)} | ${cell(r.max_ms)} | ${cell(r.grpc_p50_ms, " ms")} | ${cell(r.bare_p50_ms, " ms")} | **${cell(r.overhead_ratio)}** (${cell(r.grpc_overhead_ratio)}) | ${cpuText} | ${cell(r.rss_per_agent_kb)} KiB (${cell(r.bare_rss_per_stream_kb)}) | ${cell(r.heap_per_agent_kb)} KiB | ${failures === 0 ? "0" : `${failures} (see JSON)`} | ${cell(r.load_before)}→${cell(r.load_after)} |`;
    });
  return [header, rule, ...rows].join("\n");
}

async function main(): Promise<void> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const { values } = parseArgs({ options: { results: { type: "string", default: join(here, "results") } } });
  const dir = resolve(values.results);
  const files = (await readdir(dir)).filter((file) => file.endsWith(".json")).sort();
  const results = await Promise.all(files.map(async (file) => ({ file, json: JSON.parse(await readFile(join(dir, file), "utf8")) as Json })));
  for (const kind of ["real", "wire"]) {
    const rows = results.filter(({ file, json }) => file.startsWith("fanout-") && json.agent_kind === kind).map(({ json }) => json);
    if (rows.length > 0) process.stdout.write(`\n### ${kind} agents\n\n${fanoutTable(rows)}\n`);
  }
  for (const { file, json } of results.filter(({ file }) => file.startsWith("peer-"))) {
    process.stdout.write(`\n### ${file}\n\n\`\`\`json\n${JSON.stringify(json, null, 2)}\n\`\`\`\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
