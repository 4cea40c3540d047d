// `trustplane pki init|issue-server|issue-agent`: a small private CA (pki/private-ca.ts)
// so mutual TLS between agents, control plane and gateway is minutes away. Each
// action prints the files it wrote and the flags that use them.
import { join } from "node:path";
import { processIo, type CommandIo } from "../command-io.js";
import { defineCommand, parseCommand, required } from "../flags.js";
import {
  createCa,
  DEFAULT_CA_DAYS,
  DEFAULT_CA_NAME,
  DEFAULT_LEAF_DAYS,
  DEFAULT_PKI_DIR,
  issueAgentCertificate,
  issueServerCertificate,
  MAX_DAYS,
  PkiRefusal,
  type IssuedCertificate,
} from "../pki/private-ca.js";
import { runSubcommand, type Action } from "../subcommands.js";
import { UsageError } from "../usage-error.js";

const DIR_HELP = ["--dir DIR", `the CA's directory (default ${DEFAULT_PKI_DIR})`] as const;

const initSpec = defineCommand({
  name: "trustplane pki init",
  summary: "Create a private CA: DIR/ca.crt (0644) and DIR/ca.key (0600), EC P-256. Needs the openssl command.",
  help: [
    DIR_HELP,
    ["--name NAME", `the CA's common name (default "${DEFAULT_CA_NAME}")`],
    ["--days N", `validity in days (default ${DEFAULT_CA_DAYS})`],
    ["--force", "replace an existing CA (everything it issued stops being trusted)"],
  ],
  options: {
    dir: { type: "string", default: DEFAULT_PKI_DIR },
    name: { type: "string", default: DEFAULT_CA_NAME },
    days: { type: "string", default: String(DEFAULT_CA_DAYS) },
    force: { type: "boolean", default: false },
  },
});

const serverSpec = defineCommand({
  name: "trustplane pki issue-server",
  summary:
    "Issue DIR/server.crt and DIR/server.key (serverAuth) for the control plane and the gateway; replaces an earlier one.\n" +
    "Clients check the name they dial against the certificate's DNS and IP names.",
  help: [
    DIR_HELP,
    ["--host NAME", "a DNS name of the server, repeatable (the first is the CN)"],
    ["--ip ADDRESS", "an IP address of the server, repeatable (e.g. 127.0.0.1)"],
    ["--days N", `validity in days (default ${DEFAULT_LEAF_DAYS})`],
  ],
  options: {
    dir: { type: "string", default: DEFAULT_PKI_DIR },
    host: { type: "string", multiple: true, default: [] },
    ip: { type: "string", multiple: true, default: [] },
    days: { type: "string", default: String(DEFAULT_LEAF_DAYS) },
  },
});

const agentSpec = defineCommand({
  name: "trustplane pki issue-agent",
  summary:
    "Issue DIR/agents/NAME.crt and DIR/agents/NAME.key (clientAuth, CN and DNS name NAME); replaces an earlier one.\n" +
    "With mutual TLS the control plane lets this certificate register as hostname NAME and nothing else.",
  help: [
    ["--hostname NAME", "the agent's hostname, as it registers (required)"],
    DIR_HELP,
    ["--days N", `validity in days (default ${DEFAULT_LEAF_DAYS})`],
  ],
  options: {
    hostname: { type: "string" },
    dir: { type: "string", default: DEFAULT_PKI_DIR },
    days: { type: "string", default: String(DEFAULT_LEAF_DAYS) },
  },
});

function dayCount(value: string, command: string): number {
  const days = /^\d{1,6}$/.test(value) ? Number(value) : 0;
  if (days < 1 || days > MAX_DAYS) throw new UsageError(`${command}: --days must be a whole number from 1 to ${MAX_DAYS}, got "${value}"`);
  return days;
}

/** Runs a CA operation; its refusals are usage errors (exit 2). */
async function refusalsAsUsage<T>(command: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof PkiRefusal) throw new UsageError(`${command}: ${error.message}`);
    throw error;
  }
}

function validity(issued: IssuedCertificate): string {
  return `valid until ${issued.notAfter.toISOString().slice(0, 10)}`;
}

function filesWritten(issued: IssuedCertificate, keyNote: string): string[] {
  const width = Math.max(issued.certFile.length, issued.keyFile.length);
  return [
    `  ${issued.certFile.padEnd(width)}  certificate, mode 0644`,
    `  ${issued.keyFile.padEnd(width)}  private key, mode 0600: ${keyNote}`,
  ];
}

async function init(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(initSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const dir = flags.dir;
  const days = dayCount(flags.days, initSpec.name);
  const issued = await refusalsAsUsage(initSpec.name, () => createCa(dir, { name: flags.name, days, force: flags.force }));
  io.stdout.write(
    [
      `${issued.replaced ? "Replaced the CA" : "Created a CA"} in ${dir} (${issued.subject}, ${validity(issued)}):`,
      ...filesWritten(issued, "keep it off the nodes; whoever holds it can issue certificates"),
      ...(issued.replaced ? [``, `Certificates issued by the old CA are not trusted by anything that loads the new ca.crt: issue them again.`] : []),
      ``,
      `Next, issue the certificates:`,
      `  trustplane pki issue-server --dir ${dir} --host HOSTNAME --ip 127.0.0.1`,
      `  trustplane pki issue-agent --dir ${dir} --hostname NODE`,
      ``,
    ].join("\n"),
  );
  return 0;
}

async function issueServer(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(serverSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const dir = flags.dir;
  if (flags.host.length === 0 && flags.ip.length === 0) {
    throw new UsageError(`${serverSpec.name}: give at least one --host NAME or --ip ADDRESS (see --help)`);
  }
  const days = dayCount(flags.days, serverSpec.name);
  const issued = await refusalsAsUsage(serverSpec.name, () => issueServerCertificate(dir, { hosts: flags.host, ips: flags.ip, days }));
  const ca = join(dir, "ca.crt");
  const name = flags.host[0] ?? flags.ip[0]!;
  const dialName = name.includes(":") ? `[${name}]` : name;
  io.stdout.write(
    [
      `${issued.replaced ? "Replaced" : "Issued"} the server certificate (${issued.subject}; ${issued.subjectAltNames.join(", ")}; ${validity(issued)}):`,
      ...filesWritten(issued, "only for the control plane and the gateway"),
      ``,
      `Use it (the control plane with --client-ca requires agents to present a certificate of this CA):`,
      `  trustplane server --tls-cert ${issued.certFile} --tls-key ${issued.keyFile} --client-ca ${ca}`,
      `  trustplane gateway --tls-cert ${issued.certFile} --tls-key ${issued.keyFile} --server ${dialName}:7443 --server-ca ${ca}`,
      `  trustplane agent --server ${dialName}:7443 --ca ${ca} --tls-cert ... --tls-key ...   (see trustplane pki issue-agent)`,
      `  TRUSTPLANE_URL=https://${dialName}:8080 TRUSTPLANE_CA=${ca} trustplane agent list`,
      ``,
    ].join("\n"),
  );
  return 0;
}

async function issueAgent(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(agentSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const dir = flags.dir;
  const hostname = required(flags.hostname, "--hostname", agentSpec.name);
  const days = dayCount(flags.days, agentSpec.name);
  const issued = await refusalsAsUsage(agentSpec.name, () => issueAgentCertificate(dir, { hostname, days }));
  io.stdout.write(
    [
      `${issued.replaced ? "Replaced" : "Issued"} the certificate of agent ${hostname} (${issued.subject}; ${issued.subjectAltNames.join(", ")}; ${validity(issued)}):`,
      ...filesWritten(issued, `copy it to ${hostname} only`),
      ``,
      `On ${hostname}, with the three files copied there:`,
      `  trustplane agent --hostname ${hostname} --server HOST:7443 --tls-cert ${issued.certFile} --tls-key ${issued.keyFile} --ca ${join(dir, "ca.crt")}`,
      ``,
    ].join("\n"),
  );
  return 0;
}

const ACTIONS: Readonly<Record<string, Action>> = {
  init: { summary: "create the CA (ca.crt, ca.key)", run: init },
  "issue-server": { summary: "issue the control plane's and gateway's certificate (server.crt, server.key)", run: issueServer },
  "issue-agent": { summary: "issue an agent's client certificate (agents/NAME.crt, agents/NAME.key)", run: issueAgent },
};

export const PKI_SUMMARY = "A small private CA for TLS and mutual TLS between agents, control plane, gateway and clients (uses openssl).";

export function pkiCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runSubcommand("trustplane pki", PKI_SUMMARY, ACTIONS, argv, io);
}
