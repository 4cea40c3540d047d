import { createLogger } from "../../common/logger.js";
import { startGateway } from "../../gateway/gateway.js";
import { hostPort, parseFlags, required, defineCommand } from "../flags.js";
import { runUntilSignal } from "../run-until-signal.js";

const spec = defineCommand({
  name: "trustplane gateway",
  summary: "Run the gateway: REST routes and the Connect, gRPC and gRPC-Web client API, forwarded to the control plane.",
  help: [
    ["--http HOST:PORT", "HTTP listen address (default 127.0.0.1:8080; port 0 picks a free one)"],
    ["--server HOST:PORT", "control plane gRPC address (default 127.0.0.1:7443)"],
  ],
  options: {
    http: { type: "string", default: "127.0.0.1:8080" },
    server: { type: "string", default: "127.0.0.1:7443" },
  },
});

export async function gatewayCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(spec, argv);
  if (!flags) return;
  const httpAddress = hostPort(required(flags.http, "--http", spec.name), "--http", spec.name);
  const controlPlaneAddress = hostPort(required(flags.server, "--server", spec.name), "--server", spec.name);
  const logger = createLogger({ component: "gateway" });
  const gateway = await startGateway({ httpAddress, controlPlaneAddress, logger });
  logger.info({ url: gateway.url }, "gateway listening");
  await runUntilSignal(logger, () => gateway.close());
}
