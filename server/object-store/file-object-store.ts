// `file:DIR`: one file per object, written atomically (temp file in the same
// directory, fsync, rename). The SHA-256 is recomputed on read (objects are at most
// 64 KiB), so nothing beside the content can go stale.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isValidObjectName } from "../../common/names.js";
import { invalidArgument, unavailable } from "../../common/status-error.js";
import type { ObjectInfo, ObjectStore, StoredObject } from "./object-store.js";

function sha256Hex(content: Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function storeFault(error: unknown): Error {
  return unavailable(`object store unavailable: ${(error as Error).message}`);
}

export class FileObjectStore implements ObjectStore {
  private ready: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  async put(name: string, content: Uint8Array): Promise<ObjectInfo> {
    const path = this.pathOf(name);
    await this.ensureDir();
    // Temp names start with a dot, which no object name does, so list() skips them.
    const temp = join(this.dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      await writeFile(temp, content, { mode: 0o644, flush: true });
      await rename(temp, path);
      const info = await stat(path);
      return { name, sha256: sha256Hex(content), size: content.byteLength, updatedAt: info.mtime };
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw storeFault(error);
    }
  }

  async get(name: string): Promise<StoredObject | undefined> {
    const path = this.pathOf(name);
    try {
      const [content, info] = await Promise.all([readFile(path), stat(path)]);
      return { info: { name, sha256: sha256Hex(content), size: content.byteLength, updatedAt: info.mtime }, content };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw storeFault(error);
    }
  }

  async head(name: string): Promise<ObjectInfo | undefined> {
    return (await this.get(name))?.info;
  }

  async list(): Promise<ObjectInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw storeFault(error);
    }
    const infos = await Promise.all(names.filter(isValidObjectName).sort().map((name) => this.head(name)));
    return infos.filter((info): info is ObjectInfo => info !== undefined);
  }

  async delete(name: string): Promise<ObjectInfo | undefined> {
    const info = await this.head(name);
    if (!info) return undefined;
    try {
      await unlink(this.pathOf(name));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw storeFault(error);
    }
    return info;
  }

  async close(): Promise<void> {}

  private pathOf(name: string): string {
    if (!isValidObjectName(name)) throw invalidArgument(`invalid object name "${name}"`);
    return join(this.dir, name);
  }

  private ensureDir(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(
      () => undefined,
      (error: unknown) => {
        this.ready = undefined;
        throw storeFault(error);
      },
    );
    return this.ready;
  }
}
