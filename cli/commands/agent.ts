import { hostname as osHostname } from "node:os";
import { resolve } from "node:path";
import { startAgent, type AgentDisconnectedEvent } from "../../agent/agent.js";
import { createLogger } from "../../common/logger.js";
import { isValidHostname, parseLabelFlags } from "../../common/names.js";
import { hostPort, parseFlags, required, defineCommand } from "../flags.js";
import { readJoinToken } from "../join-token-file.js";
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
    ["--hostname NAME", "name this node registers as (default: the machine's host name)"],
    ["--label KEY:VALUE", "a label for selectors, repeatable (env:prod, group:web.dev)"],
    ["--root DIR", "trust-store root (default /; a sandbox directory for tests)"],
    ["--join-token-file FILE", "file holding the join token (required)"],
    ["--update-command PATH", "program run instead of the distribution's trust-store rebuild command"],
  ],
  options: {
    server: { type: "string", default: "127.0.0.1:7443" },
    hostname: { type: "string" },
    label: { type: "string", multiple: true, default: [] },
    root: { type: "string", default: "/" },
    "join-token-file": { type: "string" },
    "update-command": { type: "string" },
  },
});

export async function agentCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(spec, argv);
  if (!flags) return;
  const servers = required(flags.server, "--server", spec.name)
    .split(",")
    .map((address) => hostPort(address.trim(), "--server", spec.name));
  const hostname = flags.hostname ?? osHostname();
  if (!isValidHostname(hostname)) throw new UsageError(`${spec.name}: --hostname "${hostname}" is not a valid host name`);
  let labels: Record<string, string>;
  try {
    labels = parseLabelFlags(flags.label);
  } catch (error) {
    throw new UsageError(`${spec.name}: --label: ${(error as Error).message}`);
  }
  const joinToken = await readJoinToken(required(flags["join-token-file"], "--join-token-file", spec.name), spec.name);
  const logger = createLogger({ component: "agent" }).child({ hostname });
  const agent = startAgent({
    servers,
    hostname,
    labels,
    root: resolve(flags.root),
    joinToken,
    updateCommand: flags["update-command"] ? resolve(flags["update-command"]) : undefined,
    version: VERSION,
    logger,
  });
  agent.on("connected", () => logger.info({ hostname }, "agent connected"));
  agent.on("disconnected", (event: AgentDisconnectedEvent) => {
    // Every failed attempt also emits "disconnected"; only a lost stream is news.
    if (event.connected) logger.warn({ hostname, code: event.code, details: event.details }, "agent disconnected");
  });
  await runUntilSignal(logger, () => agent.stop());
}
