import { stat } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname as osHostname } from "node:os";
import { resolve } from "node:path";
import { SERVER_ORDERS, startAgent, type AgentOptions, type ServerOrder } from "../../agent/agent.js";
import { createLogger } from "../../common/logger.js";
import { isValidHostname, parseLabelFlags } from "../../common/names.js";
import { hostPort, parseFlags, required, defineCommand, type HelpOutput } from "../flags.js";
import { readJoinToken } from "../join-token-file.js";
import { readKeyPairFlags, readPemFlag } from "../pem-flags.js";
import { runUntilSignal } from "../run-until-signal.js";
import { UsageError } from "../usage-error.js";
import { VERSION } from "../version.js";

const spec = defineCommand({
  name: "trustplane agent",
  summary:
    "Run the node agent: dial the control plane and apply certificate commands to this node's trust store.\n" +
    "(trustplane agent list|get|forget ask the gateway about known agents; see trustplane agent list --help.)",
  help: [
    ["--server HOST:PORT[,...]", "control plane address(es); one is picked at random, the others are fail-over (default 127.0.0.1:7443)"],
    ["--server-order random|listed", "random (default): start anywhere in --server, fail over at random; listed: first address preferred, then the next"],
    ["--hostname NAME", "name this node registers as (default: the machine's host name)"],
    ["--label KEY:VALUE", "a label for selectors, repeatable (env:prod, group:web.dev)"],
    ["--root DIR", "trust-store root (default /; a sandbox directory for tests)"],
    ["--join-token-file FILE", "file holding the join token (required unless --tls-cert)"],
    ["--update-command PATH", "program run instead of the distribution's trust-store rebuild command"],
    ["--tls-cert FILE", "mutual TLS: this node's PEM certificate, CN or DNS name = --hostname (trustplane pki issue-agent)"],
    ["--tls-key FILE", "the PEM private key of --tls-cert"],
    ["--ca FILE", "reach the control plane over TLS, trusting the CA in FILE (default with TLS: the system's roots)"],
    ["--server-name NAME", "name to check in the control plane's certificate instead of the --server host (implies TLS)"],
  ],
  options: {
    server: { type: "string", default: "127.0.0.1:7443" },
    "server-order": { type: "string", default: "random" },
    hostname: { type: "string" },
    label: { type: "string", multiple: true, default: [] },
    root: { type: "string", default: "/" },
    "join-token-file": { type: "string" },
    "update-command": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    ca: { type: "string" },
    "server-name": { type: "string" },
  },
});

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The agent's options from the flags (files read), or undefined when --help was asked. */
export async function agentSettings(argv: string[], out?: HelpOutput): Promise<Omit<AgentOptions, "logger"> | undefined> {
  const flags = parseFlags(spec, argv, out);
  if (!flags) return undefined;
  const servers = required(flags.server, "--server", spec.name)
    .split(",")
    .map((address) => hostPort(address.trim(), "--server", spec.name));
  const serverOrder = flags["server-order"] as ServerOrder;
  if (!SERVER_ORDERS.includes(serverOrder)) {
    throw new UsageError(`${spec.name}: --server-order must be ${SERVER_ORDERS.join(" or ")}, got "${flags["server-order"]}"`);
  }
  const hostname = flags.hostname ?? osHostname();
  if (!isValidHostname(hostname)) throw new UsageError(`${spec.name}: --hostname "${hostname}" is not a valid host name`);
  let labels: Record<string, string>;
  try {
    labels = parseLabelFlags(flags.label);
  } catch (error) {
    throw new UsageError(`${spec.name}: --label: ${(error as Error).message}`);
  }
  const root = resolve(flags.root);
  if (!(await isDirectory(root))) throw new UsageError(`${spec.name}: --root ${root} is not a directory`);
  const client = await readKeyPairFlags({ cert: flags["tls-cert"], key: flags["tls-key"] }, { cert: "--tls-cert", key: "--tls-key" }, spec.name);
  const tokenFile = client ? flags["join-token-file"] : required(flags["join-token-file"], "--join-token-file", spec.name);
  const joinToken = tokenFile === undefined ? undefined : await readJoinToken(tokenFile, spec.name);
  const serverName = flags["server-name"];
  if (serverName !== undefined && !isValidHostname(serverName) && isIP(serverName) === 0) {
    throw new UsageError(`${spec.name}: --server-name must be a host name or IP address, got "${serverName}"`);
  }
  const tls =
    client === undefined && flags.ca === undefined && serverName === undefined
      ? undefined
      : {
          ...client,
          ...(flags.ca === undefined ? {} : { caPem: await readPemFlag(flags.ca, "--ca", spec.name, "certificate") }),
          ...(serverName === undefined ? {} : { serverNameOverride: serverName }),
        };
  return {
    servers,
    serverOrder,
    hostname,
    labels,
    root,
    joinToken,
    tls,
    updateCommand: flags["update-command"] ? resolve(flags["update-command"]) : undefined,
    version: VERSION,
  };
}

export async function agentCommand(argv: string[]): Promise<number> {
  const settings = await agentSettings(argv);
  if (!settings) return 0;
  // The agent binds its hostname to its own lines (pino's bindings() hides a bound
  // `hostname`, so binding it here too would print it twice).
  const logger = createLogger({ component: "agent" });
  const agent = startAgent({ ...settings, logger });
  // The agent logs its own connects, disconnects and refusals (at error level); the
  // command adds nothing to them. It only ends the process when the agent cannot start.
  const failure = new Promise<never>((_resolve, reject) => {
    agent.once("error", (error: Error) => reject(new Error(`cannot start: ${error.message}`)));
  });
  return runUntilSignal({ command: spec.name, logger: logger.child({ hostname: settings.hostname }), close: () => agent.stop(), failure });
}
