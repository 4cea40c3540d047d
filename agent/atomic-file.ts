// File writes that never leave a half-written file and never follow a symlink
// planted at the destination or at the temp path.
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

const TEMP_CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_NO_FOLLOW_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Prefix of the temp files written beside a destination (hidden, never `*.crt`). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString("hex")}`);
}

/**
 * Writes `data` to `path` through an exclusively created temp file in the same
 * directory: write, chmod, fsync, rename. A symlink at `path` is replaced, never
 * written through.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await open(temp, TEMP_CREATE_FLAGS, mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort: some file systems refuse fsync on a directory.
  }
}

/**
 * The bytes of `path` if it is a regular file; undefined when it is absent, a
 * symlink or anything else. Never follows a symlink.
 */
export async function readRegularFile(path: string): Promise<Buffer | undefined> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  if (!stats.isFile()) return undefined;
  let handle;
  try {
    handle = await open(path, READ_NO_FOLLOW_FLAGS);
  } catch (error) {
    // Replaced by a symlink (ELOOP) or removed between lstat and open.
    if (isNotFound(error) || (error as NodeJS.ErrnoException).code === "ELOOP") return undefined;
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
