// Peer benchmark (issue 6): what a user would pick instead of trustplane. Ansible
// (`ansible-core` from Debian, installed when missing) copies a CA into N sandbox
// roots and runs the rebuild command, with `connection: local`, once with its
// default forks and once with forks=N; trustplane does the same through N agents
// (`POST /node/_all/certificate/ca`). Both use the same stand-in rebuild (the
// bundle is the anchors, concatenated); then both run end to end with Debian's real
// update-ca-certificates pointed into the sandbox roots, for --e2e-hosts hosts.
//
//   npm run bench:peer -- --hosts N [--runs R] [--e2e-hosts M] [--agent-procs K] [--json] [--out FILE]
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeCa, type TestCa } from "../test/fixtures/pki.js";
import { ansibleVersion, ensureAnsible, runAnsiblePlay, writeAnsiblePlay } from "./ansible-peer.js";
import { runBench } from "./bench-main.js";
import { ChildProcessGroup } from "./child-process-group.js";
import { summarize } from "./latency-summary.js";
import { openFilesLimit } from "./open-files-limit.js";
import { catRebuildScript, DEBIAN_ANCHORS_DIR, DEBIAN_BUNDLE, makeDebianRoots } from "./sandbox-roots.js";
import { defaultAgentProcs, SwarmFleet } from "./swarm-fleet.js";
import { TrustplaneStack } from "./trustplane-stack.js";

const USAGE = "usage: npm run bench:peer -- --hosts N [--runs R] [--e2e-hosts M] [--agent-procs K] [--json] [--out FILE]\n";
const CA_NAME = "bench";
const JOB_TIMEOUT_SECONDS = 600;
/** The sandbox flags the agent gives update-ca-certificates (agent/trust-store/debian.ts). */
const UPDATE_CA_CERTIFICATES_SANDBOX_ARGS = [
  "--certsconf", "{{ root }}/etc/ca-certificates.conf",
  "--certsdir", "{{ root }}/usr/share/ca-certificates",
  "--localcertsdir", "{{ root }}/usr/local/share/ca-certificates",
  "--etccertsdir", "{{ root }}/etc/ssl/certs",
  "--hooksdir", "{{ root }}/etc/ca-certificates/update.d",
];

interface PeerOptions {
  hosts: number;
  runs: number;
  e2eHosts: number;
  agentProcs?: number;
  json: boolean;
  out?: string;
}

function parseOptions(argv: string[]): PeerOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: "string" },
      runs: { type: "string", default: "3" },
      "e2e-hosts": { type: "string", default: "20" },
      "agent-procs": { type: "string" },
      json: { type: "boolean", default: false },
      out: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const count = (text: string | undefined, flag: string, min: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new Error(`${flag} must be an integer of at least ${min}\n${USAGE}`);
    return value;
  };
  return {
    hosts: count(values.hosts, "--hosts", 1),
    runs: count(values.runs, "--runs", 1),
    e2eHosts: count(values["e2e-hosts"], "--e2e-hosts", 0),
    agentProcs: values["agent-procs"] ? count(values["agent-procs"], "--agent-procs", 1) : undefined,
    json: values.json,
    out: values.out ? resolve(values.out) : undefined,
  };
}

function progress(message: string): void {
  process.stderr.write(`[bench:peer ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** The base64 body of a PEM: what any bundle holding the certificate contains. */
function pemBody(pem: string): string {
  return pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
}

/** Throws unless every root's bundle holds `ca`. */
async function checkBundles(roots: readonly string[], ca: TestCa, who: string): Promise<void> {
  const body = pemBody(ca.certPem);
  for (const root of roots) {
    const bundle = await readFile(join(root, DEBIAN_BUNDLE), "utf8").catch(() => "");
    if (!bundle.replace(/\s+/g, "").includes(body)) throw new Error(`${who}: the bundle under ${root} does not hold the CA just installed`);
  }
}

/** Roots as Ansible needs them: the anchors directory, and what update-ca-certificates reads (as the agent prepares it). */
async function makeAnsibleRoots(dir: string, hosts: number): Promise<string[]> {
  const roots = await makeDebianRoots(dir, Array.from({ length: hosts }, (_, i) => `host-${i}`));
  for (const root of roots) {
    await mkdir(join(root, DEBIAN_ANCHORS_DIR), { recursive: true });
    await mkdir(join(root, "usr/share/ca-certificates"), { recursive: true });
    await mkdir(join(root, "etc/ssl/certs"), { recursive: true });
    await writeFile(join(root, "etc/ca-certificates.conf"), "");
  }
  return roots;
}

interface Timings {
  runs: number[];
  median: number;
}

function timings(seconds: number[]): Timings {
  return { runs: seconds.map((value) => Math.round(value * 1000) / 1000), median: summarize(seconds).p50 };
}

/** Ansible over `hosts` fresh roots, `runs` times per forks setting, alternating the CA so every run writes. */
async function ansibleTimings(
  group: ChildProcessGroup,
  dir: string,
  hosts: number,
  cas: readonly TestCa[],
  caFiles: readonly string[],
  runs: number,
  rebuild: string,
  rebuildArgs: readonly string[],
): Promise<{ defaultForks: Timings; forksN: Timings }> {
  const result: Record<"defaultForks" | "forksN", number[]> = { defaultForks: [], forksN: [] };
  for (const setting of ["defaultForks", "forksN"] as const) {
    const roots = await makeAnsibleRoots(join(dir, `roots-${setting}`), hosts);
    const plays = await Promise.all(caFiles.map((caFile, i) => writeAnsiblePlay(join(dir, `play-${setting}-${i}`), roots, caFile, CA_NAME, rebuild, rebuildArgs)));
    for (let run = 0; run < runs; run++) {
      const forks = setting === "forksN" ? hosts : undefined;
      const seconds = await runAnsiblePlay(group, plays[run % 2]!, forks);
      await checkBundles(roots, cas[run % 2]!, `ansible ${setting} run ${run + 1}`);
      result[setting].push(seconds);
      progress(`ansible ${hosts} hosts, ${forks === undefined ? "default forks" : `forks=${forks}`}, run ${run + 1}/${runs}: ${seconds.toFixed(2)} s`);
    }
  }
  return { defaultForks: timings(result.defaultForks), forksN: timings(result.forksN) };
}

/** trustplane over `hosts` agents with fresh sandbox roots: `runs` installs through the gateway, alternating the CA. */
async function trustplaneTimings(
  group: ChildProcessGroup,
  dir: string,
  hosts: number,
  agentProcs: number,
  cas: readonly TestCa[],
  runs: number,
  updateCommand: string | undefined,
): Promise<Timings> {
  const limit = openFilesLimit();
  const openFiles = Math.min(limit.hard, Math.max(limit.soft, hosts * 4 + 512));
  const stack = await TrustplaneStack.start({ group, dir: join(dir, "data"), jobStore: "sqlite", openFiles });
  try {
    await stack.upload("bench-a.pem", cas[0]!.certPem);
    await stack.upload("bench-b.pem", cas[1]!.certPem);
    const sandboxDir = join(dir, "roots");
    const fleet = await SwarmFleet.spawn({
      group,
      kind: "agent",
      clients: hosts,
      processes: agentProcs,
      server: stack.address,
      hostnamePrefix: "peer-agent-",
      joinToken: stack.joinToken,
      agent: { sandboxDir, updateCommand, logLevel: "warn" },
      openFiles,
      readyTimeoutMs: 120_000,
    });
    fleet.start();
    const deadline = performance.now() + 60_000 + hosts * 50;
    while ((await stack.onlineAgents()) < hosts) {
      if (performance.now() > deadline) throw new Error(`only ${await stack.onlineAgents()} of ${hosts} agents online`);
      await new Promise((done) => setTimeout(done, 100));
    }
    const roots = Array.from({ length: hosts }, (_, i) => join(sandboxDir, `peer-agent-${i}`));
    const seconds: number[] = [];
    for (let run = 0; run < runs; run++) {
      const outcome = await stack.installRest("_all", CA_NAME, run % 2 === 0 ? "bench-a.pem" : "bench-b.pem", JOB_TIMEOUT_SECONDS);
      if (outcome.ok !== hosts || outcome.changed !== hosts) {
        throw new Error(`trustplane run ${run + 1}: ${outcome.ok} of ${hosts} ok, ${outcome.changed} changed; ${outcome.firstError ?? ""}`);
      }
      await checkBundles(roots, cas[run % 2]!, `trustplane run ${run + 1}`);
      seconds.push(outcome.ms / 1000);
      progress(`trustplane ${hosts} agents, run ${run + 1}/${runs}: ${(outcome.ms / 1000).toFixed(3)} s`);
    }
    await fleet.stop();
    return timings(seconds);
  } finally {
    await stack.stop();
  }
}

async function run(options: PeerOptions): Promise<Record<string, unknown>> {
  ensureAnsible(progress);
  const group = new ChildProcessGroup();
  group.killOnExit();
  const dir = await mkdtemp(join(tmpdir(), "trustplane-bench-peer-"));
  group.removeOnExit(dir);
  const loadBefore = loadavg()[0]!;
  try {
    const cas = [makeCa({ commonName: "trustplane bench CA A" }), makeCa({ commonName: "trustplane bench CA B" })];
    const caFiles = [join(dir, "ca-a.pem"), join(dir, "ca-b.pem")];
    await Promise.all(cas.map((ca, i) => writeFile(caFiles[i]!, ca.certPem)));
    const standIn = join(dir, "rebuild-standin.sh");
    await writeFile(standIn, catRebuildScript());
    await chmod(standIn, 0o755);
    const agentProcs = (hosts: number) => options.agentProcs ?? defaultAgentProcs(hosts);

    progress(`${ansibleVersion()}; ${options.hosts} hosts, stand-in rebuild`);
    const ansible = await ansibleTimings(group, join(dir, "ansible"), options.hosts, cas, caFiles, options.runs, standIn, []);
    const trustplane = await trustplaneTimings(group, join(dir, "trustplane"), options.hosts, agentProcs(options.hosts), cas, options.runs, standIn);

    let e2e: Record<string, unknown> | undefined;
    if (options.e2eHosts > 0) {
      const hosts = options.e2eHosts;
      progress(`end to end with the real update-ca-certificates, ${hosts} hosts`);
      const e2eAnsible = await ansibleTimings(group, join(dir, "e2e-ansible"), hosts, cas, caFiles, options.runs, "update-ca-certificates", UPDATE_CA_CERTIFICATES_SANDBOX_ARGS);
      const e2eTrustplane = await trustplaneTimings(group, join(dir, "e2e-trustplane"), hosts, agentProcs(hosts), cas, options.runs, undefined);
      e2e = {
        hosts,
        ansible_default_forks_s: e2eAnsible.defaultForks.median,
        ansible_forks_n_s: e2eAnsible.forksN.median,
        trustplane_s: e2eTrustplane.median,
        ratio_default_forks: e2eAnsible.defaultForks.median / e2eTrustplane.median,
        ratio_forks_n: e2eAnsible.forksN.median / e2eTrustplane.median,
        runs: { ansible_default_forks: e2eAnsible.defaultForks.runs, ansible_forks_n: e2eAnsible.forksN.runs, trustplane: e2eTrustplane.runs },
      };
    }
    return {
      hosts: options.hosts,
      runs: options.runs,
      rebuild: "sh stand-in (cat anchors > bundle), for both",
      ansible: ansibleVersion(),
      ansible_default_forks_s: ansible.defaultForks.median,
      ansible_forks_n_s: ansible.forksN.median,
      trustplane_s: trustplane.median,
      ratio_default_forks: ansible.defaultForks.median / trustplane.median,
      ratio_forks_n: ansible.forksN.median / trustplane.median,
      all_runs: { ansible_default_forks: ansible.defaultForks.runs, ansible_forks_n: ansible.forksN.runs, trustplane: trustplane.runs },
      e2e_update_ca_certificates: e2e ?? null,
      load_before: loadBefore,
      load_after: loadavg()[0]!,
      at: new Date().toISOString(),
    };
  } finally {
    await group.stopAll(5_000);
    await rm(dir, { recursive: true, force: true });
  }
}

function formatPeer(result: Record<string, unknown>): string {
  const s = (value: unknown) => `${(value as number).toFixed(2)} s`;
  const x = (value: unknown) => `${(value as number).toFixed(1)}x`;
  const lines = [
    `${result.ansible}; ${result.hosts} hosts; median of ${result.runs} runs; load ${(result.load_before as number).toFixed(2)} -> ${(result.load_after as number).toFixed(2)}`,
    `stand-in rebuild: Ansible default forks ${s(result.ansible_default_forks_s)}, forks=${result.hosts} ${s(result.ansible_forks_n_s)}, trustplane ${s(result.trustplane_s)}`,
    `  trustplane is ${x(result.ratio_default_forks)} faster than Ansible (default forks), ${x(result.ratio_forks_n)} faster than forks=${result.hosts}`,
  ];
  const e2e = result.e2e_update_ca_certificates as Record<string, unknown> | null;
  if (e2e) {
    lines.push(
      `real update-ca-certificates, ${e2e.hosts} hosts: Ansible default forks ${s(e2e.ansible_default_forks_s)}, forks=${e2e.hosts} ${s(e2e.ansible_forks_n_s)}, trustplane ${s(e2e.trustplane_s)}`,
      `  trustplane is ${x(e2e.ratio_default_forks)} faster than Ansible (default forks), ${x(e2e.ratio_forks_n)} faster than forks=${e2e.hosts}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

runBench({ name: "bench:peer", parse: parseOptions, run, format: formatPeer });
