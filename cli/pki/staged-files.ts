// Files written next to their final place under a temporary name, with their exact
// mode (chmod after the write, whatever the umask), then renamed into place together
// once everything succeeded, or removed: a failed issue leaves no half key pair.
import { randomBytes } from "node:crypto";
import { chmod, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Private keys. */
export const KEY_FILE_MODE = 0o600;
/** Certificates. */
export const CERTIFICATE_FILE_MODE = 0o644;

export class StagedFiles {
  private readonly staged: { temp: string; path: string }[] = [];

  /** Writes `content` beside `path` with `mode`; resolves to the temporary file's path. */
  async write(path: string, content: string | Buffer, mode: number): Promise<string> {
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
    // Created exclusively and already private; chmod sets the exact mode past the umask.
    await writeFile(temp, content, { mode: mode & KEY_FILE_MODE, flag: "wx" });
    this.staged.push({ temp, path });
    await chmod(temp, mode);
    return temp;
  }

  /** Renames every staged file into place, in the order written. */
  async commit(): Promise<void> {
    for (const { temp, path } of this.staged.splice(0)) await rename(temp, path);
  }

  /** Removes what was staged and not committed; safe to call after commit. */
  async discard(): Promise<void> {
    await Promise.all(this.staged.splice(0).map(({ temp }) => rm(temp, { force: true })));
  }
}
