// A bench worker process running many real trustplane agents (startAgent), each
// with its own grpc-js channel and TCP connection, its own sandbox root holding only
// a Debian os-release, and the rebuild command set to a stand-in. See
// swarm-messages.ts for how the bench drives it.
import * as grpc from "@grpc/grpc-js";
import { startAgent, type Agent, type AgentDisconnectedEvent } from "../agent/agent.js";
import { createLogger } from "../common/logger.js";
import { makeDebianRoots } from "./sandbox-roots.js";
import { hostnames, sendToParent, swarmWorker } from "./swarm-messages.js";

let agents: Agent[] = [];
let roots: string[] = [];

const config = swarmWorker(() => start());
const agentConfig = config.agent;
if (!agentConfig) throw new Error("agent-swarm needs the agent part of the swarm config");
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
  let online = 0;
  agents = names.map((hostname, i) => {
    const agent = startAgent({
      servers: [config.server],
      hostname,
      labels: { bench: "fanout" },
      root: roots[i]!,
      joinToken: config.joinToken,
      updateCommand: agentConfig!.updateCommand,
      version: "bench",
      logger,
    });
    agent.once("connected", () => {
      if (++online === names.length) sendToParent({ type: "online", count: online });
    });
    agent.on("error", (error: Error) => sendToParent({ type: "failed", error: `${hostname}: ${error.message}` }));
    agent.on("disconnected", (event: AgentDisconnectedEvent) => {
      if (event.connected) sendToParent({ type: "failed", error: `${hostname}: stream lost (${grpc.status[event.code] ?? event.code}: ${event.details})` });
    });
    return agent;
  });
}
