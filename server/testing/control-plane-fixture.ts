// A control plane started in-process on 127.0.0.1 port 0 with a temp dir for its
// keys file, join token and file object store, plus one key per role.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../common/logger.js";
import { createApiKey } from "../auth/api-keys-file.js";
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from "../control-plane.js";

export const TEST_JOIN_TOKEN = "test-join-token-0123456789";

export interface TestControlPlane {
  controlPlane: ControlPlane;
  address: string;
  dir: string;
  keysFile: string;
  objectsDir: string;
  keys: { admin: string; write: string; read: string };
  keyIds: { admin: string; write: string; read: string };
  close(): Promise<void>;
}

export interface TestControlPlaneOptions extends Partial<ControlPlaneOptions> {
  /** What the join token file holds; default TEST_JOIN_TOKEN. */
  joinTokenFileContent?: string;
}

export async function startTestControlPlane(options: TestControlPlaneOptions = {}): Promise<TestControlPlane> {
  const { joinTokenFileContent, ...overrides } = options;
  const dir = await mkdtemp(join(tmpdir(), "trustplane-cp-"));
  const keysFile = join(dir, "api-keys.json");
  const joinTokenFile = join(dir, "join-token");
  const objectsDir = join(dir, "objects");
  await writeFile(joinTokenFile, `${joinTokenFileContent ?? TEST_JOIN_TOKEN}\n`, { mode: 0o600 });
  const admin = await createApiKey(keysFile, { role: "admin", name: "test admin" });
  const write = await createApiKey(keysFile, { role: "write", name: "test write" });
  const read = await createApiKey(keysFile, { role: "read", name: "test read" });
  let controlPlane: ControlPlane;
  try {
    controlPlane = await startControlPlane({
      grpcAddress: "127.0.0.1:0",
      apiKeysFile: keysFile,
      joinTokenFile,
      objectStore: `file:${objectsDir}`,
      logger: createLogger({ component: "test-control-plane", level: process.env.TRUSTPLANE_TEST_LOG_LEVEL ?? "silent" }),
      ...overrides,
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    controlPlane,
    address: controlPlane.address,
    dir,
    keysFile,
    objectsDir,
    keys: { admin: admin.key, write: write.key, read: read.key },
    keyIds: { admin: admin.id, write: write.id, read: read.id },
    async close() {
      await controlPlane.close(1_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
