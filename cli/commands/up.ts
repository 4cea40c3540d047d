// `trustplane up`: control plane, gateway and one sandboxed local agent in one
// process — the embedded default a new user runs first.
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { hostname as osHostname } from "node:os";
import { join, resolve } from "node:path";
import { startAgent } from "../../agent/agent.js";
import { createLogger } from "../../common/logger.js";
import { isValidHostname, parseLabelFlags } from "../../common/names.js";
import { startGateway } from "../../gateway/gateway.js";
import { createApiKey } from "../../server/auth/api-keys-file.js";
import { startControlPlane } from "../../server/control-plane.js";
import { DEFAULT_GATEWAY_URL } from "../client/gateway-connection.js";
import { hostPort, parseFlags, defineCommand } from "../flags.js";
import { runUntilSignal } from "../run-until-signal.js";
import { UsageError } from "../usage-error.js";
import { VERSION } from "../version.js";

const spec = defineCommand({
  name: "trustplane up",
  summary:
    "Run control plane, gateway and one local agent in one process. The agent writes into a sandbox under the data dir, never into this machine's trust store.",
  help: [
    ["--data-dir DIR", "state directory (default ./.trustplane)"],
    ["--http HOST:PORT", "REST and Connect address (default 127.0.0.1:8080)"],
    ["--grpc HOST:PORT", "control plane gRPC address for more agents (default 127.0.0.1:7443)"],
    ["--hostname NAME", "the local agent's name (default: this machine's host name)"],
    ["--label KEY:VALUE", "a label of the local agent, repeatable"],
    ["--metrics HOST:PORT", "serve the control plane's Prometheus metrics at http://HOST:PORT/metrics (default: off)"],
    ["--audit-log FILE", "append one JSON line per authenticated change or trust-data read (default DIR/audit.log, mode 0600)"],
  ],
  options: {
    "data-dir": { type: "string", default: ".trustplane" },
    http: { type: "string", default: "127.0.0.1:8080" },
    grpc: { type: "string", default: "127.0.0.1:7443" },
    hostname: { type: "string" },
    label: { type: "string", multiple: true, default: [] },
    metrics: { type: "string" },
    "audit-log": { type: "string" },
  },
});

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The admin key: TRUSTPLANE_API_KEY, or the one made on first run, or a new one. */
async function ensureAdminKey(dataDir: string): Promise<{ key: string; created: boolean }> {
  const keysFile = join(dataDir, "api-keys.json");
  const keyFile = join(dataDir, "admin-key");
  const fromEnv = process.env.TRUSTPLANE_API_KEY?.trim();
  const stored = await readIfExists(keyFile);
  if (fromEnv && fromEnv === stored) return { key: fromEnv, created: false };
  if (!fromEnv && stored) return { key: stored, created: false };
  const { key } = await createApiKey(keysFile, { role: "admin", name: "trustplane up admin" }, fromEnv || undefined);
  await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
  return { key, created: true };
}

async function ensureJoinToken(dataDir: string): Promise<string> {
  const tokenFile = join(dataDir, "join-token");
  const stored = await readIfExists(tokenFile);
  if (stored && !stored.startsWith("sha256:")) return stored;
  if (stored) throw new UsageError(`trustplane up: ${tokenFile} holds a hash; the embedded agent needs the token itself`);
  const token = randomBytes(32).toString("base64url");
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  return token;
}

/** The sandbox root of the local agent, with a copy of this machine's os-release. */
async function ensureSandboxRoot(dataDir: string): Promise<string> {
  const root = join(dataDir, "agent-root");
  await mkdir(join(root, "etc"), { recursive: true });
  if ((await readIfExists(join(root, "etc", "os-release"))) === undefined) {
    await copyFile("/etc/os-release", join(root, "etc", "os-release"));
  }
  return root;
}

export async function upCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(spec, argv);
  if (!flags) return 0;
  const httpAddress = hostPort(flags.http, "--http", spec.name);
  const grpcAddress = hostPort(flags.grpc, "--grpc", spec.name);
  const metricsAddress = flags.metrics === undefined ? undefined : hostPort(flags.metrics, "--metrics", spec.name);
  const hostname = flags.hostname ?? osHostname();
  if (!isValidHostname(hostname)) throw new UsageError(`${spec.name}: --hostname "${hostname}" is not a valid host name`);
  let labels: Record<string, string>;
  try {
    labels = parseLabelFlags(flags.label);
  } catch (error) {
    throw new UsageError(`${spec.name}: --label: ${(error as Error).message}`);
  }
  const dataDir = resolve(flags["data-dir"]);
  const auditFile = resolve(flags["audit-log"] ?? join(dataDir, "audit.log"));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const logger = createLogger({ component: "up" });

  const admin = await ensureAdminKey(dataDir);
  const joinToken = await ensureJoinToken(dataDir);
  const root = await ensureSandboxRoot(dataDir);

  const controlPlane = await startControlPlane({
    grpcAddress,
    apiKeysFile: join(dataDir, "api-keys.json"),
    joinTokenFile: join(dataDir, "join-token"),
    objectStore: `file:${join(dataDir, "objects")}`,
    jobStore: `sqlite:${join(dataDir, "jobs.sqlite")}`,
    metricsAddress,
    auditFile,
    logger: logger.child({ component: "server" }),
  });
  if (controlPlane.metricsUrl) logger.info({ url: controlPlane.metricsUrl }, "metrics listening");
  const gateway = await startGateway({
    httpAddress,
    controlPlaneAddress: controlPlane.address,
    logger: logger.child({ component: "gateway" }),
  });
  const agent = startAgent({
    servers: [controlPlane.address],
    hostname,
    labels,
    root,
    joinToken,
    version: VERSION,
    // The agent binds its hostname itself.
    logger: logger.child({ component: "agent" }),
  });
  await agent.waitConnected(10_000);
  logger.info({ url: gateway.url, grpc: controlPlane.address, hostname, root }, "trustplane up");

  const keyLine = admin.created
    ? `Admin API key (also in ${join(dataDir, "admin-key")}, mode 0600):\n  ${admin.key}`
    : `Admin API key: in ${join(dataDir, "admin-key")}`;
  process.stdout.write(
    [
      `trustplane ${VERSION} is up.`,
      ``,
      `  REST and Connect:  ${gateway.url}`,
      `  gRPC (agents):     ${controlPlane.address}   join token in ${join(dataDir, "join-token")}`,
      `  local agent:       ${hostname}, trust store sandboxed in ${root}`,
      ...(controlPlane.metricsUrl ? [`  metrics:           ${controlPlane.metricsUrl}`] : []),
      `  audit log:         ${auditFile}`,
      ``,
      keyLine,
      ``,
      `Try it:`,
      `  export TRUSTPLANE_API_KEY=$(cat ${join(dataDir, "admin-key")})`,
      `  curl -s -H "Authorization: Bearer $TRUSTPLANE_API_KEY" -F name=corp-ca.pem -F file=@ca.pem ${gateway.url}/file`,
      `  curl -s -H "Authorization: Bearer $TRUSTPLANE_API_KEY" -H 'Content-Type: application/json' \\`,
      `       -d '{"name":"corp-root","object":"corp-ca.pem"}' ${gateway.url}/node/_all/certificate/ca`,
      `or with the trustplane command:`,
      ...(gateway.url === DEFAULT_GATEWAY_URL ? [] : [`  export TRUSTPLANE_URL=${gateway.url}`]),
      `  trustplane file upload --name corp-ca.pem --file ca.pem`,
      `  trustplane ca install --target _all --name corp-root --object corp-ca.pem`,
      `  trustplane job list`,
      ``,
      `Press Ctrl-C to stop.`,
      ``,
    ].join("\n"),
  );

  return runUntilSignal({
    command: spec.name,
    logger,
    close: async () => {
      await agent.stop();
      await gateway.close();
      await controlPlane.close(10_000);
    },
  });
}
