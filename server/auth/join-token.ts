// The agents' join token. The file holds the token or `sha256:<hex>` of it; only the
// digest is kept in memory and presented tokens are compared in constant time. The
// control plane re-reads the file when it changes (checked on every verification by
// inode, size and times, like the API keys file), so `trustplane token rotate` takes
// effect without a restart: streams already connected stay, new ones need the new token.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Logger } from "../../common/logger.js";

export interface JoinTokenVerifier {
  /** Whether `presented` is the current join token. */
  verify(presented: string): Promise<boolean>;
}

const HASH_PREFIX = "sha256:";

function digestOf(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** One join token, by its digest. */
export class JoinToken {
  private constructor(private readonly digest: Buffer) {}

  /** From the file's content: the token itself, or `sha256:<64 hex digits>`. */
  static fromFileContent(text: string, source = "join token file"): JoinToken {
    const value = text.trim();
    if (value === "") throw new Error(`${source} is empty`);
    if (value.startsWith(HASH_PREFIX)) {
      const hex = value.slice(HASH_PREFIX.length).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${source}: sha256: must be followed by 64 hex digits`);
      return new JoinToken(Buffer.from(hex, "hex"));
    }
    return new JoinToken(digestOf(value));
  }

  static async fromFile(path: string): Promise<JoinToken> {
    return JoinToken.fromFileContent(await readFile(path, "utf8"), path);
  }

  matches(presented: string): boolean {
    if (presented === "") return false;
    return timingSafeEqual(digestOf(presented), this.digest);
  }
}

/** The join-token file as the control plane reads it, re-read whenever it changes. */
export class JoinTokenFile implements JoinTokenVerifier {
  private version = "";
  private reloading: Promise<void> | undefined;

  private constructor(
    private readonly path: string,
    private token: JoinToken | undefined,
    private readonly logger: Logger,
  ) {}

  /** Opens the file; a missing, empty or malformed file is an error here. */
  static async open(path: string, logger: Logger): Promise<JoinTokenFile> {
    const file = new JoinTokenFile(path, undefined, logger);
    const version = await file.currentVersion();
    file.token = await JoinToken.fromFile(path);
    file.version = version;
    return file;
  }

  async verify(presented: string): Promise<boolean> {
    await this.refresh();
    return this.token?.matches(presented) ?? false;
  }

  private async currentVersion(): Promise<string> {
    const info = await stat(this.path, { bigint: true });
    return `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
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
      // Fail closed: a token file that vanished admits nobody new.
      if (this.token) this.logger.error({ file: this.path, err: (error as Error).message }, "cannot stat join token file; refusing every join token");
      this.token = undefined;
      this.version = "";
      return;
    }
    if (version === this.version) return;
    try {
      this.token = await JoinToken.fromFile(this.path);
      this.logger.info({ file: this.path }, "join token file loaded");
    } catch (error) {
      this.logger.error({ file: this.path, err: (error as Error).message }, "cannot read join token file; refusing every join token");
      this.token = undefined;
    }
    this.version = version;
  }
}

/**
 * Writes a new random join token to `file` (atomically: temp file in the same
 * directory, then rename; mode 0600), as the token itself or, with `storeHash`, as
 * `sha256:<hex>` of it. Returns the new token; it is shown nowhere else. A running
 * control plane reading that file accepts only the new token from then on.
 */
export async function rotateJoinToken(file: string, options: { storeHash: boolean }): Promise<string> {
  const token = randomBytes(32).toString("base64url");
  const content = options.storeHash ? `${HASH_PREFIX}${digestOf(token).toString("hex")}\n` : `${token}\n`;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(temp, content, { mode: 0o600, flush: true });
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  return token;
}
