// FleetService messages as the REST API shows them: GET /agent, GET and DELETE
// /agent/{hostname}.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { OsFacts } from "../gen/trustplane/v1/agent_pb.js";
import { AgentState, type AgentInfo } from "../gen/trustplane/v1/fleet_pb.js";

export interface OsFactsJson {
  id: string;
  id_like: string[];
  version_id: string;
  pretty_name: string;
  kernel: string;
  arch: string;
  trust_store: string;
}

export interface AgentJson {
  hostname: string;
  labels: Record<string, string>;
  state: string;
  stale: boolean;
  os: OsFactsJson;
  agent_version: string;
  connected_at?: string;
  last_seen_at?: string;
  commands_in_flight: number;
  /** The control-plane replica holding the agent's stream; "" while offline or with a single control plane. */
  replica: string;
}

/** AgentState as a word; the same words are the `state` filter of GET /agent. */
export const AGENT_STATE_WORDS = {
  online: AgentState.ONLINE,
  offline: AgentState.OFFLINE,
} as const satisfies Readonly<Record<string, AgentState>>;

const STATE_BY_VALUE: ReadonlyMap<AgentState, string> = new Map(
  Object.entries(AGENT_STATE_WORDS).map(([word, state]) => [state, word]),
);

export function agentJson(agent: AgentInfo): AgentJson {
  return {
    hostname: agent.hostname,
    labels: sortedLabels(agent.labels),
    state: STATE_BY_VALUE.get(agent.state) ?? "unknown",
    stale: agent.stale,
    os: osFactsJson(agent.os),
    agent_version: agent.agentVersion,
    ...(agent.connectedAt ? { connected_at: timestampDate(agent.connectedAt).toISOString() } : {}),
    ...(agent.lastSeenAt ? { last_seen_at: timestampDate(agent.lastSeenAt).toISOString() } : {}),
    commands_in_flight: agent.commandsInFlight,
    replica: agent.replica,
  };
}

function osFactsJson(os: OsFacts | undefined): OsFactsJson {
  return {
    id: os?.id ?? "",
    id_like: os?.idLike ?? [],
    version_id: os?.versionId ?? "",
    pretty_name: os?.prettyName ?? "",
    kernel: os?.kernel ?? "",
    arch: os?.arch ?? "",
    trust_store: os?.trustStore ?? "",
  };
}

/** Labels in key order, so the same agent always prints the same (a key such as `__proto__` included). */
function sortedLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(labels)
      .sort()
      .map((key) => [key, labels[key]!]),
  );
}
