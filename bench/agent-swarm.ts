// A bench worker process running many real trustplane agents (startAgent), each
// with its own grpc-js channel and TCP connection, its own sandbox root holding only
// a Debian os-release, and the rebuild command set to a stand-in. See
// swarm-messages.ts for how the bench drives it.
import * as grpc from "@grpc/grpc-js";
import { startAgent, type Agent, type AgentDisconnectedEvent } from "../agent/agent.js";
import { createLogger } from "../common/logger.js";
import { makeDebianRoots } from "./sandbox-roots.js";
import { hostnames, sendToParent, swarmWorker, type AgentTimeline } from "./swarm-messages.js";

let agents: Agent[] = [];
let roots: string[] = [];
/** Each agent's connection events (watchReconnects only). */
let timelines: AgentTimeline[] = [];

const config = swarmWorker(
  () => start(),
  () => sendToParent({ type: "report", agents: timelines }),
);
const agentConfig = config.agent;
if (!agentConfig) throw new Error("agent-swarm needs the agent part of the swarm config");
const watchReconnects = agentConfig.watchReconnects === true;
const names = hostnames(config);
const logger = createLogger({ component: "agent-swarm", level: agentConfig.logLevel });

const prepareStarted = performance.now();
makeDebianRoots(agentConfig.sandboxDir, names, agentConfig.prefilledBundle).then(
  (made) => {
    roots = made;
    sendToParent({ type: "ready", prepareMs: performance.now() - prepareStarted });
  },
  (error: Error) => sendToParent({ type: "failed", error: `sandbox roots: ${error.message}` }),
);

function start(): void {
  if (agents.length > 0) return;
  let everConnected = 0;
  let connectedNow = 0;
  let lostSinceAllConnected = false;
  timelines = names.map((hostname) => ({ hostname, events: [] }));
  agents = names.map((hostname, i) => {
    const agent = startAgent({
      servers: [config.server],
      hostname,
      labels: { bench: "fanout" },
      root: roots[i]!,
      joinToken: config.joinToken,
      updateCommand: agentConfig!.updateCommand,
      runRebuild: agentConfig!.inProcessRebuild ? async () => undefined : undefined,
      version: "bench",
      logger,
    });
    const events = timelines[i]!.events;
    agent.once("connected", () => {
      if (++everConnected === names.length) sendToParent({ type: "online", count: everConnected });
    });
    agent.on("error", (error: Error) => sendToParent({ type: "failed", error: `${hostname}: ${error.message}` }));
    if (watchReconnects) {
      agent.on("connected", () => {
        events.push({ kind: "connected", atMs: Date.now() });
        // The first "all connected" is "online" above; this one follows lost streams.
        if (++connectedNow === names.length && lostSinceAllConnected) {
          lostSinceAllConnected = false;
          sendToParent({ type: "reconnected", count: connectedNow });
        }
      });
      agent.on("disconnected", (event: AgentDisconnectedEvent) => {
        const atMs = Date.now();
        const retryInMs = event.retryInMs ?? -1;
        if (event.connected) {
          connectedNow--;
          lostSinceAllConnected = true;
          events.push({ kind: "lost", atMs, code: event.code, retryInMs });
        } else {
          events.push({ kind: "failed", atMs, code: event.code, details: event.details.slice(0, 200), retryInMs });
        }
      });
    } else {
      agent.on("disconnected", (event: AgentDisconnectedEvent) => {
        if (event.connected) sendToParent({ type: "failed", error: `${hostname}: stream lost (${grpc.status[event.code] ?? event.code}: ${event.details})` });
      });
    }
    return agent;
  });
}
