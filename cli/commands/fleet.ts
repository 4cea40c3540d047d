// `trustplane agent list|get|forget`: the agents the control plane knows, through
// the gateway (FleetService). `trustplane agent` with flags only is the node agent
// itself (agent.ts); command-table.ts routes between the two. JSON documents are the
// REST answers of GET /agent and GET /agent/{hostname}.
import { FleetService } from "../../gen/trustplane/v1/fleet_pb.js";
import { agentJson, AGENT_STATE_WORDS, type AgentJson } from "../../gateway/agent-json.js";
import { withApiErrors } from "../client/api-error.js";
import { connectToGateway, CONNECTION_HELP, CONNECTION_OPTIONS } from "../client/gateway-connection.js";
import { cell, textTable } from "../client/text-table.js";
import { processIo, type CommandIo } from "../command-io.js";
import { defineCommand, parseCommand } from "../flags.js";
import { runSubcommand, type Action } from "../subcommands.js";
import { UsageError } from "../usage-error.js";

const listSpec = defineCommand({
  name: "trustplane agent list",
  summary: "List the agents the control plane knows: online now, or offline with their last-seen time.",
  help: [
    ["--state STATE", "only online or offline agents"],
    ["--target T", "only agents this target matches (_all, env:prod, a hostname)"],
    ...CONNECTION_HELP,
  ],
  options: { state: { type: "string" }, target: { type: "string" }, ...CONNECTION_OPTIONS },
});

const getSpec = defineCommand({
  name: "trustplane agent get",
  summary: "Show one agent: labels, state, OS facts, version, connected and last-seen times.",
  args: ["HOSTNAME"],
  help: [...CONNECTION_HELP],
  options: { ...CONNECTION_OPTIONS },
});

const forgetSpec = defineCommand({
  name: "trustplane agent forget",
  summary: "Forget an offline agent: it is no longer listed or matched until it connects again.",
  args: ["HOSTNAME"],
  help: [...CONNECTION_HELP],
  options: { ...CONNECTION_OPTIONS },
});

function isAgentStateWord(word: string): word is keyof typeof AGENT_STATE_WORDS {
  return Object.hasOwn(AGENT_STATE_WORDS, word);
}

function labelsText(labels: Readonly<Record<string, string>>): string {
  const text = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}:${value}`)
    .join(",");
  return text || "-";
}

function osText(agent: AgentJson): string {
  return cell(agent.os.pretty_name) || [agent.os.id, agent.os.version_id].filter(Boolean).join(" ") || "-";
}

function stateText(agent: AgentJson): string {
  return agent.stale ? `${agent.state} (stale)` : agent.state;
}

async function list(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(listSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const state = flags.state;
  if (state !== undefined && !isAgentStateWord(state)) {
    throw new UsageError(`${listSpec.name}: --state must be one of online, offline, got "${state}"`);
  }
  const request = { state: state === undefined ? undefined : AGENT_STATE_WORDS[state], target: flags.target ?? "" };
  const fleet = connectToGateway(flags, io.env, listSpec.name).client(FleetService);
  return withApiErrors(io, async () => {
    const agents = (await fleet.listAgents(request)).agents.map(agentJson);
    if (flags.json) {
      io.stdout.write(`${JSON.stringify({ agents })}\n`);
      return 0;
    }
    const rows = agents.map((agent) => [
      agent.hostname,
      stateText(agent),
      agent.last_seen_at ?? "-",
      osText(agent),
      cell(agent.agent_version) || "-",
      labelsText(agent.labels),
    ]);
    io.stdout.write(textTable(["HOSTNAME", "STATE", "LAST_SEEN", "OS", "VERSION", "LABELS"], rows));
    return 0;
  });
}

function agentDetails(agent: AgentJson): string {
  const rows: [string, string][] = [
    ["state", stateText(agent)],
    ["labels", labelsText(agent.labels)],
    ["os", osText(agent)],
    ["kernel", cell(agent.os.kernel) || "-"],
    ["arch", cell(agent.os.arch) || "-"],
    ["trust store", cell(agent.os.trust_store) || "unsupported"],
    ["version", cell(agent.agent_version) || "-"],
    ["connected", agent.connected_at ?? "-"],
    ["last seen", agent.last_seen_at ?? "-"],
    ["in flight", String(agent.commands_in_flight)],
    // Only in a cluster: the control-plane replica holding the agent's stream.
    ...(agent.replica ? [["replica", agent.replica] as [string, string]] : []),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return `agent ${agent.hostname}\n${rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join("\n")}\n`;
}

async function get(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(getSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags, args } = parsed;
  const fleet = connectToGateway(flags, io.env, getSpec.name).client(FleetService);
  return withApiErrors(io, async () => {
    const { agent } = await fleet.getAgent({ hostname: args[0]! });
    if (!agent) throw new Error("the gateway answered without an agent");
    io.stdout.write(flags.json ? `${JSON.stringify(agentJson(agent))}\n` : agentDetails(agentJson(agent)));
    return 0;
  });
}

async function forget(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(forgetSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags, args } = parsed;
  const fleet = connectToGateway(flags, io.env, forgetSpec.name).client(FleetService);
  return withApiErrors(io, async () => {
    const { agent } = await fleet.forgetAgent({ hostname: args[0]! });
    const hostname = agent?.hostname || args[0]!;
    io.stdout.write(flags.json ? `${JSON.stringify(agent ? agentJson(agent) : { hostname })}\n` : `Forgot agent ${hostname}.\n`);
    return 0;
  });
}

const ACTIONS: Readonly<Record<string, Action>> = {
  list: { summary: "list known agents", run: list },
  get: { summary: "show one agent", run: get },
  forget: { summary: "forget an offline agent", run: forget },
};

export function fleetCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runSubcommand("trustplane agent", "The agents the control plane knows (through the gateway).", ACTIONS, argv, io);
}
