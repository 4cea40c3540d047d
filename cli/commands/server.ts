import { createLogger } from "../../common/logger.js";
import { startControlPlane, type ControlPlaneOptions } from "../../server/control-plane.js";
import { days, defineCommand, hostPort, parseFlags, required, type HelpOutput } from "../flags.js";
import { runUntilSignal } from "../run-until-signal.js";
import { UsageError } from "../usage-error.js";

const JOB_STORE_URL = /^(memory:|sqlite:.+|postgres(ql)?:\/\/.+)$/;

/** A job-store URL fit for an error message: no password. */
function redactPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, "$1***@");
}

const spec = defineCommand({
  name: "trustplane server",
  summary: "Run the control plane: agent streams, routing, object store, API-key auth (gRPC).",
  help: [
    ["--grpc HOST:PORT", "gRPC listen address (default 127.0.0.1:7443; port 0 picks a free one)"],
    ["--data-dir DIR", "state directory (default ./.trustplane)"],
    ["--api-keys FILE", "API keys file (default DIR/api-keys.json); re-read on change"],
    ["--join-token-file FILE", "agents' join token, or sha256:<hex> of it (default DIR/join-token)"],
    ["--object-store URL", "file:DIR or s3://BUCKET (default file:DIR/objects)"],
    ["--s3-endpoint URL", "S3 endpoint for s3:// (keys from TRUSTPLANE_S3_ACCESS_KEY / TRUSTPLANE_S3_SECRET_KEY)"],
    ["--s3-region REGION", "S3 region (default us-east-1)"],
    ["--shutdown-grace SECONDS", "on SIGTERM, how long in-flight jobs may run before exit (default 30)"],
    ["--job-store URL", "sqlite:FILE, postgres://USER:PASSWORD@HOST/DB or memory: (default $TRUSTPLANE_JOB_STORE, else sqlite:DIR/jobs.sqlite)"],
    ["--job-retention-days N", "prune jobs older than N days (default 30)"],
    ["--stale-agent-days N", "offline agents unseen for N days are no longer matched by _all or selectors (default 7)"],
    ["--metrics HOST:PORT", "serve Prometheus metrics at http://HOST:PORT/metrics (default: off)"],
  ],
  options: {
    grpc: { type: "string", default: "127.0.0.1:7443" },
    "data-dir": { type: "string", default: ".trustplane" },
    "api-keys": { type: "string" },
    "join-token-file": { type: "string" },
    "object-store": { type: "string" },
    "s3-endpoint": { type: "string" },
    "s3-region": { type: "string" },
    "shutdown-grace": { type: "string", default: "30" },
    "job-store": { type: "string" },
    "job-retention-days": { type: "string", default: "30" },
    "stale-agent-days": { type: "string", default: "7" },
    metrics: { type: "string" },
  },
});

/** What `trustplane server` starts with, from its flags and environment. */
export interface ServerSettings {
  options: Omit<ControlPlaneOptions, "logger">;
  /** On SIGTERM, how long in-flight jobs may run. */
  graceMs: number;
}

/** The control plane's options from the flags, or undefined when --help was asked. */
export function serverSettings(
  argv: string[],
  env: Readonly<Record<string, string | undefined>>,
  out?: HelpOutput,
): ServerSettings | undefined {
  const flags = parseFlags(spec, argv, out);
  if (!flags) return undefined;
  const grpcAddress = hostPort(required(flags.grpc, "--grpc", spec.name), "--grpc", spec.name);
  const dataDir = flags["data-dir"];
  const graceSeconds = Number(flags["shutdown-grace"]);
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new UsageError(`${spec.name}: --shutdown-grace must be a number of seconds`);
  }
  const objectStore = flags["object-store"] ?? `file:${dataDir}/objects`;
  if (!objectStore.startsWith("file:") && !objectStore.startsWith("s3://")) {
    throw new UsageError(`${spec.name}: --object-store must be file:DIR or s3://BUCKET, got "${objectStore}"`);
  }
  const jobStore = flags["job-store"] ?? (env.TRUSTPLANE_JOB_STORE || `sqlite:${dataDir}/jobs.sqlite`);
  if (!JOB_STORE_URL.test(jobStore)) {
    throw new UsageError(`${spec.name}: --job-store must be sqlite:FILE, postgres://... or memory:, got "${redactPassword(jobStore)}"`);
  }
  return {
    options: {
      grpcAddress,
      apiKeysFile: flags["api-keys"] ?? `${dataDir}/api-keys.json`,
      joinTokenFile: flags["join-token-file"] ?? `${dataDir}/join-token`,
      objectStore,
      s3: {
        endpoint: flags["s3-endpoint"] ?? env.TRUSTPLANE_S3_ENDPOINT,
        accessKey: env.TRUSTPLANE_S3_ACCESS_KEY,
        secretKey: env.TRUSTPLANE_S3_SECRET_KEY,
        region: flags["s3-region"] ?? env.TRUSTPLANE_S3_REGION,
      },
      jobStore,
      jobRetentionMs: days(flags["job-retention-days"], "--job-retention-days", spec.name),
      staleAgentMs: days(flags["stale-agent-days"], "--stale-agent-days", spec.name),
      metricsAddress: flags.metrics === undefined ? undefined : hostPort(flags.metrics, "--metrics", spec.name),
    },
    graceMs: graceSeconds * 1000,
  };
}

export async function serverCommand(argv: string[]): Promise<void> {
  const settings = serverSettings(argv, process.env);
  if (!settings) return;
  const logger = createLogger({ component: "server" });
  const controlPlane = await startControlPlane({ ...settings.options, logger });
  logger.info({ address: controlPlane.address }, "control plane listening");
  if (controlPlane.metricsUrl) logger.info({ url: controlPlane.metricsUrl }, "metrics listening");
  await runUntilSignal(logger, () => controlPlane.close(settings.graceMs));
}
