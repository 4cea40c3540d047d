import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../common/logger.js";
import { ApiKeysFile, createApiKey, removeApiKey } from "./api-keys-file.js";

const logger = createLogger({ component: "test", level: "silent" });
let dir: string;
let keysFile: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "trustplane-keys-"));
  keysFile = join(dir, "sub", "api-keys.json");
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("createApiKey / removeApiKey", () => {
  it("creates the file with mode 0600 and stores only the SHA-256", async () => {
    const { id, key } = await createApiKey(keysFile, { role: "write", name: "ci" });
    expect(id).toMatch(/^k_[0-9a-f]{16}$/);
    expect(key).toMatch(/^tp_[A-Za-z0-9_-]{43}$/);
    expect((await stat(keysFile)).mode & 0o777).toBe(0o600);
    const text = await readFile(keysFile, "utf8");
    expect(text).not.toContain(key);
    const content = JSON.parse(text);
    expect(content.keys).toEqual([
      { id, name: "ci", sha256: createHash("sha256").update(key).digest("hex"), role: "write", created_at: expect.any(String) },
    ]);
  });

  it("stores permissions instead of a role, and refuses unknown ones", async () => {
    const { id } = await createApiKey(keysFile, { permissions: ["certificate:read", "job:read"] });
    expect(JSON.parse(await readFile(keysFile, "utf8")).keys[0]).toMatchObject({ id, permissions: ["certificate:read", "job:read"] });
    expect(JSON.parse(await readFile(keysFile, "utf8")).keys[0].role).toBeUndefined();
    await expect(createApiKey(keysFile, { permissions: ["root:everything"] })).rejects.toThrow('unknown permission "root:everything"');
  });

  it("honours an explicit key once: the same key again returns the same id", async () => {
    const first = await createApiKey(keysFile, { role: "admin" }, "tp_chosen-by-operator");
    const again = await createApiKey(keysFile, { role: "admin" }, "tp_chosen-by-operator");
    expect(first).toEqual({ id: first.id, key: "tp_chosen-by-operator" });
    expect(again).toEqual(first);
    expect(JSON.parse(await readFile(keysFile, "utf8")).keys).toHaveLength(1);
  });

  it("removes by id", async () => {
    const a = await createApiKey(keysFile, { role: "read" });
    const b = await createApiKey(keysFile, { role: "read" });
    expect(await removeApiKey(keysFile, a.id)).toBe(true);
    expect(await removeApiKey(keysFile, a.id)).toBe(false);
    expect(JSON.parse(await readFile(keysFile, "utf8")).keys.map((k: { id: string }) => k.id)).toEqual([b.id]);
  });
});

describe("ApiKeysFile", () => {
  it("finds keys by their hash and re-reads the file when it changes", async () => {
    const file = await ApiKeysFile.open(keysFile, logger);
    expect(await file.lookup("tp_anything")).toBeUndefined();

    const admin = await createApiKey(keysFile, { role: "admin", name: "boss" });
    const found = await file.lookup(admin.key);
    expect(found?.id).toBe(admin.id);
    expect(found?.name).toBe("boss");
    expect(found?.permissions.has("agent:write")).toBe(true);
    expect(await file.lookup(`${admin.key}x`)).toBeUndefined();

    await removeApiKey(keysFile, admin.id);
    expect(await file.lookup(admin.key)).toBeUndefined();
  });

  it("refuses to start on a malformed file, and fails closed when it becomes malformed", async () => {
    await mkdir(join(dir, "sub"), { recursive: true });
    await writeFile(keysFile, "{not json");
    await expect(ApiKeysFile.open(keysFile, logger)).rejects.toThrow();

    await rm(keysFile);
    const reader = await createApiKey(keysFile, { role: "read" });
    const file = await ApiKeysFile.open(keysFile, logger);
    expect((await file.lookup(reader.key))?.id).toBe(reader.id);
    await writeFile(keysFile, '{"keys": [', "utf8");
    expect(await file.lookup(reader.key)).toBeUndefined();
  });

  it("ignores invalid entries and keeps the valid ones", async () => {
    const good = await createApiKey(keysFile, { role: "read" });
    const content = JSON.parse(await readFile(keysFile, "utf8"));
    content.keys.push({ id: "k_bad", sha256: "xyz", role: "read" }, { id: "k_role", sha256: "a".repeat(64), role: "root" });
    await writeFile(keysFile, JSON.stringify(content));
    const file = await ApiKeysFile.open(keysFile, logger);
    expect((await file.lookup(good.key))?.id).toBe(good.id);
  });
});
