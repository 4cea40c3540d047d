// `trustplane ca install|list|update|delete`: CertificateService calls through the
// gateway, with the job's results as a table (live progress on a terminal) or as
// the REST answer in JSON. Exit 1 when any host failed.
import { CertificateService } from "../../gen/trustplane/v1/certificate_pb.js";
import { CertificateSource } from "../../gen/trustplane/v1/common_pb.js";
import { connectToGateway, CONNECTION_HELP, CONNECTION_OPTIONS } from "../client/gateway-connection.js";
import { parseHostLimit } from "../client/host-limit.js";
import { reportJobStream } from "../client/job-stream.js";
import { processIo, type CommandIo } from "../command-io.js";
import { defineCommand, parseCommand, required, wholeNumber } from "../flags.js";
import { runSubcommand, type Action } from "../subcommands.js";
import { UsageError } from "../usage-error.js";

const TARGET_HELP = ["--target T", "hostname, _any, _all, or label selectors key:value[,key:value] (required)"] as const;
const NAME_HELP = ["--name NAME", "CA name, [A-Za-z0-9_-]{1,64} (required)"] as const;
const OBJECT_HELP = ["--object OBJECT", "object-store name of the PEM (upload it with trustplane file upload) (required)"] as const;

const RATE_OPTIONS = {
  target: { type: "string" },
  timeout: { type: "string" },
  "max-concurrency": { type: "string" },
  "max-errors": { type: "string" },
} as const;

const RATE_HELP = [
  ["--timeout SECONDS", "per-host answer deadline (default 30, at most 600)"],
  ["--max-concurrency N|N%", "at most this many hosts (or percent of the matched hosts) at work at once"],
  ["--max-errors N|N%", "once more hosts than this have failed, start no more (they answer skipped)"],
] as const;

const MUTATION_OPTIONS = { ...RATE_OPTIONS, "dry-run": { type: "boolean", default: false }, ...CONNECTION_OPTIONS } as const;
const MUTATION_HELP = [
  ...RATE_HELP,
  ["--dry-run", "every host answers what it would do and touches nothing"],
  ...CONNECTION_HELP,
] as const;

const installSpec = defineCommand({
  name: "trustplane ca install",
  summary: "Install an uploaded PEM object as CA NAME in the trust store of every host the target matches.",
  help: [TARGET_HELP, NAME_HELP, OBJECT_HELP, ...MUTATION_HELP],
  options: { ...MUTATION_OPTIONS, name: { type: "string" }, object: { type: "string" } },
});

const updateSpec = defineCommand({
  name: "trustplane ca update",
  summary: "Replace CA NAME with an uploaded PEM object; a host without NAME answers failed.",
  help: [TARGET_HELP, NAME_HELP, OBJECT_HELP, ...MUTATION_HELP],
  options: { ...MUTATION_OPTIONS, name: { type: "string" }, object: { type: "string" } },
});

const deleteSpec = defineCommand({
  name: "trustplane ca delete",
  summary: "Remove CA NAME from every host the target matches; they no longer trust it.",
  help: [TARGET_HELP, NAME_HELP, ...MUTATION_HELP],
  options: { ...MUTATION_OPTIONS, name: { type: "string" } },
});

const SOURCES: Readonly<Record<string, CertificateSource>> = {
  custom: CertificateSource.CUSTOM,
  system: CertificateSource.SYSTEM,
  unmanaged: CertificateSource.UNMANAGED,
};

const listSpec = defineCommand({
  name: "trustplane ca list",
  summary: "List the CA certificates in the trust store of every host the target matches.",
  help: [
    TARGET_HELP,
    ["--source SOURCE", "only custom (installed by trustplane), system (the distribution's) or unmanaged ones"],
    ...RATE_HELP,
    ...CONNECTION_HELP,
  ],
  options: { ...RATE_OPTIONS, source: { type: "string" }, ...CONNECTION_OPTIONS },
});

interface RateFlags {
  timeout?: string;
  "max-concurrency"?: string;
  "max-errors"?: string;
  "dry-run"?: boolean;
}

function jobOptions(flags: RateFlags, command: string) {
  return {
    timeoutSeconds: flags.timeout === undefined ? 0 : wholeNumber(flags.timeout, "--timeout", command),
    dryRun: flags["dry-run"] ?? false,
    maxConcurrency:
      flags["max-concurrency"] === undefined ? undefined : parseHostLimit(flags["max-concurrency"], "--max-concurrency", command),
    maxErrors: flags["max-errors"] === undefined ? undefined : parseHostLimit(flags["max-errors"], "--max-errors", command),
  };
}

async function install(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(installSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const request = {
    target: required(flags.target, "--target", installSpec.name),
    name: required(flags.name, "--name", installSpec.name),
    object: required(flags.object, "--object", installSpec.name),
    options: jobOptions(flags, installSpec.name),
  };
  const certificates = connectToGateway(flags, io.env, installSpec.name).client(CertificateService);
  return reportJobStream(io, certificates.installCA(request), { json: flags.json, certificates: false });
}

async function update(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(updateSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const request = {
    target: required(flags.target, "--target", updateSpec.name),
    name: required(flags.name, "--name", updateSpec.name),
    object: required(flags.object, "--object", updateSpec.name),
    options: jobOptions(flags, updateSpec.name),
  };
  const certificates = connectToGateway(flags, io.env, updateSpec.name).client(CertificateService);
  return reportJobStream(io, certificates.updateCA(request), { json: flags.json, certificates: false });
}

async function remove(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(deleteSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const request = {
    target: required(flags.target, "--target", deleteSpec.name),
    name: required(flags.name, "--name", deleteSpec.name),
    options: jobOptions(flags, deleteSpec.name),
  };
  const certificates = connectToGateway(flags, io.env, deleteSpec.name).client(CertificateService);
  return reportJobStream(io, certificates.deleteCA(request), { json: flags.json, certificates: false });
}

async function list(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(listSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  let source = CertificateSource.UNSPECIFIED;
  if (flags.source !== undefined) {
    if (!Object.hasOwn(SOURCES, flags.source)) {
      throw new UsageError(`${listSpec.name}: --source must be one of ${Object.keys(SOURCES).join(", ")}, got "${flags.source}"`);
    }
    source = SOURCES[flags.source]!;
  }
  const request = {
    target: required(flags.target, "--target", listSpec.name),
    source,
    options: jobOptions(flags, listSpec.name),
  };
  const certificates = connectToGateway(flags, io.env, listSpec.name).client(CertificateService);
  return reportJobStream(io, certificates.listCA(request), { json: flags.json, certificates: true });
}

const ACTIONS: Readonly<Record<string, Action>> = {
  install: { summary: "install a CA on the hosts a target matches", run: install },
  list: { summary: "list the CAs in the hosts' trust stores", run: list },
  update: { summary: "replace an installed CA", run: update },
  delete: { summary: "remove a CA", run: remove },
};

export const CA_SUMMARY = "CA certificates in the trust stores of the fleet (through the gateway).";

export function caCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runSubcommand("trustplane ca", CA_SUMMARY, ACTIONS, argv, io);
}
