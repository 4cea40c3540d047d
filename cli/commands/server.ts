import { createLogger } from "../../common/logger.js";
import { startControlPlane } from "../../server/control-plane.js";
import { hostPort, parseFlags, required, defineCommand } from "../flags.js";
import { runUntilSignal } from "../run-until-signal.js";
import { UsageError } from "../usage-error.js";

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
  },
});

export async function serverCommand(argv: string[]): Promise<void> {
  const flags = parseFlags(spec, argv);
  if (!flags) return;
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
  const logger = createLogger({ component: "server" });
  const controlPlane = await startControlPlane({
    grpcAddress,
    apiKeysFile: flags["api-keys"] ?? `${dataDir}/api-keys.json`,
    joinTokenFile: flags["join-token-file"] ?? `${dataDir}/join-token`,
    objectStore,
    s3: {
      endpoint: flags["s3-endpoint"] ?? process.env.TRUSTPLANE_S3_ENDPOINT,
      accessKey: process.env.TRUSTPLANE_S3_ACCESS_KEY,
      secretKey: process.env.TRUSTPLANE_S3_SECRET_KEY,
      region: flags["s3-region"] ?? process.env.TRUSTPLANE_S3_REGION,
    },
    logger,
  });
  logger.info({ address: controlPlane.address }, "control plane listening");
  await runUntilSignal(logger, () => controlPlane.close(graceSeconds * 1000));
}
