// Draws the fan-out results (bench/results/fanout-*.json, written by
// `npm run bench:fanout -- --out`) as one SVG: p50 latency of `_all` against the
// number of agents, and control-plane memory per connected agent, trustplane
// against the bare grpc-js transport, with the targets of issue 6.
//
//   npm run bench:chart [-- --results DIR --out FILE]
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

interface FanoutJson {
  agents: number;
  agent_kind: "real" | "wire";
  p50_ms: number | null;
  grpc_p50_ms: number | null;
  bare_p50_ms: number | null;
  rss_per_agent_kb: number | null;
  bare_rss_per_stream_kb: number | null;
}

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: { x: number; y: number }[];
}

interface Panel {
  title: string;
  yLabel: string;
  logY: boolean;
  series: Series[];
  /** Horizontal target line. */
  target?: { y: number; label: string };
}

const WIDTH = 1000;
const HEIGHT = 460;
const PANEL_WIDTH = 440;
const PLOT = { left: 70, top: 50, width: 340, height: 300 };

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Round numbers for a log axis between min and max: 1, 2, 5 × 10^k. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let power = Math.floor(Math.log10(min)); power <= Math.ceil(Math.log10(max)); power++) {
    for (const step of [1, 2, 5]) {
      const value = step * 10 ** power;
      if (value >= min && value <= max) ticks.push(value);
    }
  }
  return ticks;
}

function linearTicks(max: number): number[] {
  const step = 10 ** Math.floor(Math.log10(max / 2));
  const nice = [1, 2, 5, 10].map((f) => f * step).find((candidate) => max / candidate <= 6) ?? step * 10;
  return Array.from({ length: Math.floor(max / nice) + 1 }, (_, i) => i * nice);
}

function formatNumber(value: number): string {
  return value >= 1000 ? `${value / 1000}k` : String(value);
}

function drawPanel(panel: Panel, offsetX: number, xValues: number[]): string {
  const points = panel.series.flatMap((series) => series.points);
  const xMin = Math.min(...xValues) / 1.3;
  const xMax = Math.max(...xValues) * 1.3;
  const yValues = [...points.map((point) => point.y), ...(panel.target ? [panel.target.y] : [])].filter((y) => y > 0);
  const yMin = panel.logY ? Math.min(...yValues) / 1.5 : 0;
  const yMax = panel.logY ? Math.max(...yValues) * 1.5 : Math.max(...yValues) * 1.15;
  const x = (value: number) => offsetX + PLOT.left + (PLOT.width * Math.log(value / xMin)) / Math.log(xMax / xMin);
  const y = (value: number) =>
    PLOT.top + PLOT.height - (panel.logY ? (PLOT.height * Math.log(value / yMin)) / Math.log(yMax / yMin) : (PLOT.height * value) / yMax);
  const out: string[] = [];
  out.push(`<text x="${offsetX + PLOT.left + PLOT.width / 2}" y="28" text-anchor="middle" font-size="15" font-weight="bold">${escape(panel.title)}</text>`);
  out.push(`<rect x="${offsetX + PLOT.left}" y="${PLOT.top}" width="${PLOT.width}" height="${PLOT.height}" fill="none" stroke="#999"/>`);
  const yTicks = panel.logY ? logTicks(yMin, yMax) : linearTicks(yMax);
  for (const tick of yTicks) {
    out.push(`<line x1="${offsetX + PLOT.left}" x2="${offsetX + PLOT.left + PLOT.width}" y1="${y(tick)}" y2="${y(tick)}" stroke="#eee"/>`);
    out.push(`<text x="${offsetX + PLOT.left - 6}" y="${y(tick) + 4}" text-anchor="end" font-size="11">${formatNumber(tick)}</text>`);
  }
  for (const tick of xValues) {
    out.push(`<line x1="${x(tick)}" x2="${x(tick)}" y1="${PLOT.top}" y2="${PLOT.top + PLOT.height}" stroke="#eee"/>`);
    out.push(`<text x="${x(tick)}" y="${PLOT.top + PLOT.height + 16}" text-anchor="middle" font-size="11">${formatNumber(tick)}</text>`);
  }
  out.push(`<text x="${offsetX + PLOT.left + PLOT.width / 2}" y="${PLOT.top + PLOT.height + 36}" text-anchor="middle" font-size="12">agents (log scale)</text>`);
  out.push(
    `<text transform="translate(${offsetX + 18},${PLOT.top + PLOT.height / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escape(panel.yLabel)}</text>`,
  );
  if (panel.target) {
    const ty = y(panel.target.y);
    out.push(`<line x1="${offsetX + PLOT.left}" x2="${offsetX + PLOT.left + PLOT.width}" y1="${ty}" y2="${ty}" stroke="#2a7" stroke-dasharray="2,3"/>`);
    out.push(`<text x="${offsetX + PLOT.left + 4}" y="${ty - 5}" font-size="11" fill="#2a7">${escape(panel.target.label)}</text>`);
  }
  for (const series of panel.series) {
    const sorted = [...series.points].filter((point) => point.y > 0).sort((a, b) => a.x - b.x);
    if (sorted.length === 0) continue;
    const path = sorted.map((point, i) => `${i === 0 ? "M" : "L"}${x(point.x).toFixed(1)},${y(point.y).toFixed(1)}`).join(" ");
    out.push(`<path d="${path}" fill="none" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6,4"' : ""}/>`);
    for (const point of sorted) out.push(`<circle cx="${x(point.x).toFixed(1)}" cy="${y(point.y).toFixed(1)}" r="3.5" fill="${series.color}"/>`);
  }
  panel.series.forEach((series, i) => {
    const ly = PLOT.top + PLOT.height + 56 + i * 16;
    const lx = offsetX + PLOT.left;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6,4"' : ""}/>`);
    out.push(`<text x="${lx + 30}" y="${ly}" font-size="11">${escape(series.label)}</text>`);
  });
  return out.join("\n");
}

export function fanoutChartSvg(results: readonly FanoutJson[]): string {
  const of = (kind: FanoutJson["agent_kind"], value: (result: FanoutJson) => number | null): { x: number; y: number }[] =>
    results.filter((result) => result.agent_kind === kind && value(result) !== null).map((result) => ({ x: result.agents, y: value(result)! }));
  const xValues = [...new Set(results.map((result) => result.agents))].sort((a, b) => a - b);
  const latency: Panel = {
    title: "p50 latency of one _all install",
    yLabel: "ms (log scale)",
    logY: true,
    target: { y: 1500, label: "target at 10k: 1.5 s" },
    series: [
      { label: "trustplane REST, real agents", color: "#c0392b", points: of("real", (r) => r.p50_ms) },
      { label: "trustplane REST, wire agents", color: "#e67e22", points: of("wire", (r) => r.p50_ms) },
      { label: "trustplane gRPC, wire agents", color: "#e67e22", dashed: true, points: of("wire", (r) => r.grpc_p50_ms) },
      { label: "bare grpc-js echo (same run as wire)", color: "#555", points: of("wire", (r) => r.bare_p50_ms) },
    ],
  };
  const memory: Panel = {
    title: "server memory per connected agent",
    yLabel: "RSS KiB per agent",
    logY: false,
    target: { y: 50, label: "target: 50 KB" },
    series: [
      { label: "trustplane control plane, real agents", color: "#c0392b", points: of("real", (r) => r.rss_per_agent_kb) },
      { label: "trustplane control plane, wire agents", color: "#e67e22", points: of("wire", (r) => r.rss_per_agent_kb) },
      { label: "bare grpc-js echo server", color: "#555", points: of("wire", (r) => r.bare_rss_per_stream_kb) },
    ],
  };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT + 40}" viewBox="0 0 ${WIDTH} ${HEIGHT + 40}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    drawPanel(latency, 0, xValues),
    drawPanel(memory, PANEL_WIDTH + 60, xValues),
    "</svg>",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const { values } = parseArgs({
    options: {
      results: { type: "string", default: join(here, "results") },
      out: { type: "string", default: join(here, "results", "fanout-chart.svg") },
    },
  });
  const dir = resolve(values.results);
  const files = (await readdir(dir)).filter((file) => /^fanout-.*\.json$/.test(file));
  const results = await Promise.all(files.map(async (file) => JSON.parse(await readFile(join(dir, file), "utf8")) as FanoutJson));
  if (results.length === 0) throw new Error(`no fanout-*.json results in ${dir}`);
  await writeFile(resolve(values.out), fanoutChartSvg(results));
  process.stdout.write(`${resolve(values.out)}: ${results.length} result(s)\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench:chart failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
