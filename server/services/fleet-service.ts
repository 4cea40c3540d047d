// FleetService: the agents the control plane knows, online or offline (agent:read),
// and forgetting an offline one (agent:write). A target filter uses the routing
// syntax and the router's matching: `_all` and selectors leave stale agents out,
// a hostname always finds its agent, `_any` lists the online agents it picks from.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { isValidHostname } from "../../common/names.js";
import { GrpcStatus, invalidArgument, notFound, StatusError } from "../../common/status-error.js";
import {
  AgentInfoSchema,
  AgentState,
  ForgetAgentResponseSchema,
  GetAgentResponseSchema,
  ListAgentsResponseSchema,
  type AgentInfo,
  type ForgetAgentRequest,
  type GetAgentRequest,
  type ListAgentsRequest,
} from "../../gen/trustplane/v1/fleet_pb.js";
import type { JobStore } from "../job-store/job-store.js";
import type { AgentDirectory, AgentView } from "../registry.js";
import type { Router } from "../router.js";
import { parseTarget } from "../target.js";
import { unaryCall, type UnaryCallDeps } from "./unary-call.js";

export interface FleetServiceDeps extends UnaryCallDeps {
  registry: AgentDirectory;
  router: Router;
  /** Where known agents are kept; ForgetAgent deletes there first. */
  store: Pick<JobStore, "forgetAgent">;
}

export function agentInfo(view: AgentView): AgentInfo {
  const online = view.state === "online";
  return create(AgentInfoSchema, {
    hostname: view.hostname,
    labels: view.labels,
    state: online ? AgentState.ONLINE : AgentState.OFFLINE,
    os: view.os,
    agentVersion: view.agentVersion,
    connectedAt: online ? timestampFromDate(view.connectedAt) : undefined,
    lastSeenAt: timestampFromDate(view.lastSeen),
    commandsInFlight: view.inFlight,
    stale: view.stale,
    replica: view.replica,
  });
}

function checkHostname(hostname: string): string {
  if (hostname === "") throw invalidArgument("hostname is required");
  if (!isValidHostname(hostname)) throw invalidArgument(`invalid hostname "${hostname.slice(0, 253)}"`, "an RFC 1123 host name of at most 253 characters");
  return hostname.toLowerCase();
}

export class FleetService {
  constructor(private readonly deps: FleetServiceDeps) {}

  handlers(): UntypedServiceImplementation {
    return {
      listAgents: unaryCall(this.deps, { permission: "agent:read", handle: (request: ListAgentsRequest) => this.list(request) }),
      getAgent: unaryCall(this.deps, { permission: "agent:read", handle: (request: GetAgentRequest) => this.get(request) }),
      forgetAgent: unaryCall(this.deps, {
        permission: "agent:write",
        auditTarget: (request: ForgetAgentRequest) => request.hostname,
        handle: (request: ForgetAgentRequest) => this.forget(request),
      }),
    };
  }

  private async list(request: ListAgentsRequest) {
    const { registry, router } = this.deps;
    if (request.state !== AgentState.UNSPECIFIED && request.state !== AgentState.ONLINE && request.state !== AgentState.OFFLINE) {
      throw invalidArgument(`unknown agent state ${request.state}`);
    }
    const records = request.target === "" ? [...registry.records()] : router.matching(parseTarget(request.target));
    const agents: AgentInfo[] = [];
    for (const record of records) {
      const info = agentInfo(registry.view(record)!);
      if (request.state === AgentState.UNSPECIFIED || info.state === request.state) agents.push(info);
    }
    agents.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
    return create(ListAgentsResponseSchema, { agents });
  }

  private async get(request: GetAgentRequest) {
    const hostname = checkHostname(request.hostname);
    const view = this.deps.registry.view(hostname);
    if (!view) throw notFound(`agent "${hostname}" not found`);
    return create(GetAgentResponseSchema, { agent: agentInfo(view) });
  }

  private async forget(request: ForgetAgentRequest) {
    const { registry, store } = this.deps;
    const hostname = checkHostname(request.hostname);
    const view = registry.view(hostname);
    if (!view) throw notFound(`agent "${hostname}" not found`);
    const online = () => new StatusError(GrpcStatus.FAILED_PRECONDITION, `agent "${hostname}" is online`, "only an offline agent can be forgotten");
    if (view.state === "online") throw online();
    await store.forgetAgent(hostname);
    // It may have reconnected while the store was written: then it stays (and its hello re-recorded it).
    if (!registry.forget(hostname) && registry.get(hostname)) throw online();
    return create(ForgetAgentResponseSchema, { agent: agentInfo(view) });
  }
}
