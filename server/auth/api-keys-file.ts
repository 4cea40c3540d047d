// The operators' API keys file: `{"keys":[{id, name, sha256, role, permissions?, created_at}]}`.
// Only the SHA-256 of each key is stored. The control plane re-reads the file when it
// changes (checked on every lookup by inode, size and mtime), so keys created or
// removed by `trustplane keys` take effect without a restart.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Logger } from "../../common/logger.js";
import { grantedPermissions, isPermission, isRole, type Permission, type Role } from "./permissions.js";

export type { Role } from "./permissions.js";

/** One entry of the keys file, as stored. */
export interface StoredApiKey {
  id: string;
  name?: string;
  /** Lower-case hex SHA-256 of the key. */
  sha256: string;
  role?: Role;
  permissions?: Permission[];
  created_at?: string;
}

interface KeysFileContent {
  keys: StoredApiKey[];
}

/** Who a valid key belongs to and what it may do. */
export interface ApiKeyPrincipal {
  readonly id: string;
  readonly name: string;
  readonly permissions: ReadonlySet<Permission>;
}

/** Finds the principal of a presented key. */
export interface ApiKeyLookup {
  lookup(key: string): Promise<ApiKeyPrincipal | undefined>;
}

const KEY_PREFIX = "tp_";

function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "ENOENT";
}

async function readKeysFile(path: string): Promise<KeysFileContent> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isMissing(error)) return { keys: [] };
    throw error;
  }
  if (text.trim() === "") return { keys: [] };
  const parsed = JSON.parse(text) as unknown;
  if (typeof parsed !== "object" || parsed === null || !Array.isArray((parsed as KeysFileContent).keys)) {
    throw new Error(`${path}: expected {"keys": [...]}`);
  }
  return parsed as KeysFileContent;
}

/** Writes the file atomically (temp file in the same directory, then rename), mode 0600. */
async function writeKeysFile(path: string, content: KeysFileContent): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, flush: true });
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * Adds a key to the keys file (created with mode 0600 if missing) and returns it;
 * the file keeps only its SHA-256. `explicitKey` stores a key chosen by the caller
 * (`trustplane up` honouring TRUSTPLANE_API_KEY); if that key is already in the file,
 * its existing id is returned and nothing is added.
 */
export async function createApiKey(
  keysFile: string,
  grant: { role?: Role; permissions?: string[]; name?: string },
  explicitKey?: string,
): Promise<{ id: string; key: string }> {
  if (grant.role !== undefined && !isRole(grant.role)) throw new Error(`unknown role "${String(grant.role)}"`);
  const permissions = grant.permissions ?? [];
  for (const permission of permissions) {
    if (!isPermission(permission)) throw new Error(`unknown permission "${permission}"`);
  }
  if (explicitKey !== undefined && explicitKey.trim() === "") throw new Error("the explicit API key is empty");
  const content = await readKeysFile(keysFile);
  const key = explicitKey?.trim() ?? `${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  const sha256 = sha256Hex(key);
  const existing = content.keys.find((entry) => entry.sha256 === sha256);
  if (existing) return { id: existing.id, key };

  const entry: StoredApiKey = {
    id: `k_${randomBytes(8).toString("hex")}`,
    name: grant.name ?? "",
    sha256,
    ...(grant.role || permissions.length === 0 ? { role: grant.role ?? "read" } : {}),
    ...(permissions.length > 0 ? { permissions: permissions as Permission[] } : {}),
    created_at: new Date().toISOString(),
  };
  content.keys.push(entry);
  await writeKeysFile(keysFile, content);
  return { id: entry.id, key };
}

/** Removes the key with this id; false if there was none. */
export async function removeApiKey(keysFile: string, id: string): Promise<boolean> {
  const content = await readKeysFile(keysFile);
  const kept = content.keys.filter((entry) => entry.id !== id);
  if (kept.length === content.keys.length) return false;
  await writeKeysFile(keysFile, { ...content, keys: kept });
  return true;
}

interface LoadedKey {
  principal: ApiKeyPrincipal;
  digest: Buffer;
}

/** The keys file as the control plane reads it, re-read whenever it changes. */
export class ApiKeysFile implements ApiKeyLookup {
  private keys: LoadedKey[] = [];
  private version = "";
  private reloading: Promise<void> | undefined;

  private constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** Opens the file; a missing file means no keys yet. A malformed file is an error. */
  static async open(path: string, logger: Logger): Promise<ApiKeysFile> {
    const file = new ApiKeysFile(path, logger);
    const version = await file.currentVersion();
    file.keys = file.parse(await readKeysFile(path));
    file.version = version;
    if (version === "missing") logger.warn({ file: path }, "API keys file does not exist yet; every client call is refused until a key is created");
    else logger.info({ file: path, keys: file.keys.length }, "API keys file loaded");
    return file;
  }

  async lookup(key: string): Promise<ApiKeyPrincipal | undefined> {
    await this.refresh();
    const digest = createHash("sha256").update(key, "utf8").digest();
    let found: ApiKeyPrincipal | undefined;
    // Compare against every entry so the time taken does not depend on which one matched.
    for (const entry of this.keys) {
      if (timingSafeEqual(entry.digest, digest) && !found) found = entry.principal;
    }
    return found;
  }

  private async currentVersion(): Promise<string> {
    try {
      const info = await stat(this.path, { bigint: true });
      return `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch (error) {
      if (isMissing(error)) return "missing";
      throw error;
    }
  }

  private refresh(): Promise<void> {
    this.reloading ??= this.reloadIfChanged().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async reloadIfChanged(): Promise<void> {
    let version: string;
    try {
      version = await this.currentVersion();
    } catch (error) {
      this.logger.error({ file: this.path, err: (error as Error).message }, "cannot stat API keys file; refusing every key");
      this.keys = [];
      this.version = "";
      return;
    }
    if (version === this.version) return;
    try {
      this.keys = this.parse(await readKeysFile(this.path));
      this.logger.info({ file: this.path, keys: this.keys.length }, "API keys file loaded");
    } catch (error) {
      // Fail closed: a key removed from a file that no longer parses must not keep working.
      this.logger.error({ file: this.path, err: (error as Error).message }, "cannot read API keys file; refusing every key");
      this.keys = [];
    }
    this.version = version;
  }

  private parse(content: KeysFileContent): LoadedKey[] {
    const loaded: LoadedKey[] = [];
    for (const entry of content.keys) {
      const problem = entryProblem(entry);
      if (problem) {
        this.logger.warn({ file: this.path, id: (entry as { id?: unknown })?.id, problem }, "ignoring API key entry");
        continue;
      }
      loaded.push({
        principal: {
          id: entry.id,
          name: entry.name ?? "",
          permissions: grantedPermissions({ role: entry.role, permissions: entry.permissions }),
        },
        digest: Buffer.from(entry.sha256, "hex"),
      });
    }
    return loaded;
  }
}

function entryProblem(entry: StoredApiKey): string | undefined {
  if (typeof entry !== "object" || entry === null) return "not an object";
  if (typeof entry.id !== "string" || entry.id === "") return "missing id";
  if (typeof entry.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(entry.sha256)) return "sha256 must be 64 lower-case hex digits";
  if (entry.role !== undefined && !isRole(entry.role)) return `unknown role "${String(entry.role)}"`;
  if (entry.permissions !== undefined) {
    if (!Array.isArray(entry.permissions)) return "permissions must be a list";
    const unknown = entry.permissions.find((permission) => !isPermission(permission));
    if (unknown !== undefined) return `unknown permission "${String(unknown)}"`;
  }
  if (entry.role === undefined && (entry.permissions?.length ?? 0) === 0) return "neither role nor permissions";
  return undefined;
}
