import { createLogger } from "../../common/logger.js";
import { startControlPlane, type ControlPlaneOptions } from "../../server/control-plane.js";
import { days, defineCommand, hostPort, parseFlags, required, type HelpOutput } from "../flags.js";
import { readKeyPairFlags, readPemFlag } from "../pem-flags.js";
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
    ["--cluster NATS_URL[,...]", "run as one replica of a cluster: nats://HOST:PORT of the NATS servers; needs --job-store postgres://..."],
    ["--replica-id NAME", "this replica's id in the cluster (default: <host name>:<gRPC port>)"],
    ["--shutdown-grace SECONDS", "on SIGTERM, how long in-flight jobs may run before exit (default 30)"],
    ["--job-store URL", "sqlite:FILE, postgres://USER:PASSWORD@HOST/DB or memory: (default $TRUSTPLANE_JOB_STORE, else sqlite:DIR/jobs.sqlite)"],
    ["--job-retention-days N", "prune jobs older than N days (default 30)"],
    ["--stale-agent-days N", "offline agents unseen for N days are no longer matched by _all or selectors (default 7)"],
    ["--metrics HOST:PORT", "serve Prometheus metrics at http://HOST:PORT/metrics (default: off)"],
    ["--audit-log FILE", "append one JSON line per authenticated change or trust-data read (default DIR/audit.log, mode 0600)"],
    ["--tls-cert FILE", "serve gRPC over TLS with this PEM certificate (chain); needs --tls-key (e.g. trustplane pki issue-server)"],
    ["--tls-key FILE", "the PEM private key of --tls-cert"],
    ["--client-ca FILE", "mutual TLS: require client certificates of this CA; an agent may only claim its certificate's name"],
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
    cluster: { type: "string" },
    "replica-id": { type: "string" },
    "job-store": { type: "string" },
    "job-retention-days": { type: "string", default: "30" },
    "stale-agent-days": { type: "string", default: "7" },
    metrics: { type: "string" },
    "audit-log": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "client-ca": { type: "string" },
  },
});

/** What `trustplane server` starts with, from its flags and environment. */
export interface ServerSettings {
  options: Omit<ControlPlaneOptions, "logger">;
  /** On SIGTERM, how long in-flight jobs may run. */
  graceMs: number;
}

const NATS_URL = /^(nats|tls):\/\/[^\s/,]+:\d+$/;
const REPLICA_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** --cluster and --replica-id, checked; undefined without --cluster. */
function clusterOptions(urls: string | undefined, replicaId: string | undefined, jobStore: string): ControlPlaneOptions["cluster"] {
  if (urls === undefined) {
    if (replicaId !== undefined) throw new UsageError(`${spec.name}: --replica-id needs --cluster`);
    return undefined;
  }
  const natsUrls = urls.split(",").map((url) => url.trim());
  const bad = natsUrls.find((url) => !NATS_URL.test(url));
  if (bad !== undefined) throw new UsageError(`${spec.name}: --cluster takes nats://HOST:PORT[,...], got "${bad}"`);
  if (!jobStore.startsWith("postgres")) {
    throw new UsageError(`${spec.name}: --cluster needs the shared PostgreSQL job store: --job-store postgres://...`);
  }
  if (replicaId !== undefined && !REPLICA_ID.test(replicaId)) {
    throw new UsageError(`${spec.name}: --replica-id must be 1-128 characters of letters, digits and . _ : -, got "${replicaId}"`);
  }
  return { natsUrls, ...(replicaId === undefined ? {} : { replicaId }) };
}

/** The control plane's options from the flags (PEM files read), or undefined when --help was asked. */
export async function serverSettings(
  argv: string[],
  env: Readonly<Record<string, string | undefined>>,
  out?: HelpOutput,
): Promise<ServerSettings | undefined> {
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
  const cluster = clusterOptions(flags.cluster, flags["replica-id"], jobStore);
  const keyPair = await readKeyPairFlags({ cert: flags["tls-cert"], key: flags["tls-key"] }, { cert: "--tls-cert", key: "--tls-key" }, spec.name);
  const clientCa = flags["client-ca"];
  if (clientCa !== undefined && !keyPair) throw new UsageError(`${spec.name}: --client-ca needs --tls-cert and --tls-key`);
  const tls = keyPair && {
    ...keyPair,
    ...(clientCa === undefined ? {} : { clientCaPem: await readPemFlag(clientCa, "--client-ca", spec.name, "certificate") }),
  };
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
      auditFile: flags["audit-log"] ?? `${dataDir}/audit.log`,
      tls,
      cluster,
    },
    graceMs: graceSeconds * 1000,
  };
}

export async function serverCommand(argv: string[]): Promise<number> {
  const settings = await serverSettings(argv, process.env);
  if (!settings) return 0;
  const logger = createLogger({ component: "server" });
  const controlPlane = await startControlPlane({ ...settings.options, logger });
  const { tls } = settings.options;
  logger.info({ address: controlPlane.address, tls: Boolean(tls), mutualTls: Boolean(tls?.clientCaPem) }, "control plane listening");
  if (controlPlane.metricsUrl) logger.info({ url: controlPlane.metricsUrl }, "metrics listening");
  return runUntilSignal({ command: spec.name, logger, close: () => controlPlane.close(settings.graceMs) });
}
