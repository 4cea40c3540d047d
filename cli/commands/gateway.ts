import { isIP } from "node:net";
import { createLogger } from "../../common/logger.js";
import { isValidHostname } from "../../common/names.js";
import { startGateway, type GatewayOptions } from "../../gateway/gateway.js";
import { defineCommand, hostPort, parseFlags, required, type HelpOutput } from "../flags.js";
import { readKeyPairFlags, readPemFlag } from "../pem-flags.js";
import { runUntilSignal } from "../run-until-signal.js";
import { UsageError } from "../usage-error.js";

const spec = defineCommand({
  name: "trustplane gateway",
  summary: "Run the gateway: REST routes and the Connect, gRPC and gRPC-Web client API, forwarded to the control plane.",
  help: [
    ["--http HOST:PORT", "HTTP listen address (default 127.0.0.1:8080; port 0 picks a free one)"],
    ["--server HOST:PORT", "control plane gRPC address (default 127.0.0.1:7443)"],
    ["--tls-cert FILE", "serve HTTPS with this PEM certificate (chain); needs --tls-key (e.g. trustplane pki issue-server)"],
    ["--tls-key FILE", "the PEM private key of --tls-cert"],
    ["--server-ca FILE", "reach the control plane over TLS, trusting the CA in FILE"],
    ["--server-name NAME", "name to check in the control plane's certificate instead of the --server host (implies TLS)"],
    ["--client-cert FILE", "client certificate for a control plane that requires mutual TLS (implies TLS); needs --client-key"],
    ["--client-key FILE", "the PEM private key of --client-cert"],
  ],
  options: {
    http: { type: "string", default: "127.0.0.1:8080" },
    server: { type: "string", default: "127.0.0.1:7443" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "server-ca": { type: "string" },
    "server-name": { type: "string" },
    "client-cert": { type: "string" },
    "client-key": { type: "string" },
  },
});

/** The gateway's options from the flags (PEM files read), or undefined when --help was asked. */
export async function gatewaySettings(argv: string[], out?: HelpOutput): Promise<Omit<GatewayOptions, "logger"> | undefined> {
  const flags = parseFlags(spec, argv, out);
  if (!flags) return undefined;
  const httpAddress = hostPort(required(flags.http, "--http", spec.name), "--http", spec.name);
  const controlPlaneAddress = hostPort(required(flags.server, "--server", spec.name), "--server", spec.name);
  const tls = await readKeyPairFlags({ cert: flags["tls-cert"], key: flags["tls-key"] }, { cert: "--tls-cert", key: "--tls-key" }, spec.name);
  const client = await readKeyPairFlags(
    { cert: flags["client-cert"], key: flags["client-key"] },
    { cert: "--client-cert", key: "--client-key" },
    spec.name,
  );
  const serverCa = flags["server-ca"];
  const serverName = flags["server-name"];
  if (serverName !== undefined && !isValidHostname(serverName) && isIP(serverName) === 0) {
    throw new UsageError(`${spec.name}: --server-name must be a host name or IP address, got "${serverName}"`);
  }
  const controlPlaneTls =
    serverCa === undefined && serverName === undefined && !client
      ? undefined
      : {
          ...(serverCa === undefined ? {} : { caPem: await readPemFlag(serverCa, "--server-ca", spec.name, "certificate") }),
          ...(serverName === undefined ? {} : { serverName }),
          ...client,
        };
  return { httpAddress, controlPlaneAddress, tls, controlPlaneTls };
}

export async function gatewayCommand(argv: string[]): Promise<number> {
  const settings = await gatewaySettings(argv);
  if (!settings) return 0;
  const logger = createLogger({ component: "gateway" });
  const gateway = await startGateway({ ...settings, logger });
  logger.info({ url: gateway.url, controlPlaneTls: Boolean(settings.controlPlaneTls) }, "gateway listening");
  return runUntilSignal({ command: spec.name, logger, close: () => gateway.close() });
}
