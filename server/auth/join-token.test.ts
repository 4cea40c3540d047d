import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../common/logger.js";
import { JoinToken, JoinTokenFile, rotateJoinToken } from "./join-token.js";

const TOKEN = "s3cret-join-token";
const DIGEST = createHash("sha256").update(TOKEN).digest("hex");
const logger = createLogger({ component: "join-token-test", level: "silent" });

describe("JoinToken", () => {
  it.each<[string, string, boolean]>([
    [`${TOKEN}\n`, TOKEN, true],
    [`${TOKEN}\n`, `${TOKEN}x`, false],
    [`${TOKEN}\n`, "", false],
    [`sha256:${DIGEST}\n`, TOKEN, true],
    [`sha256:${DIGEST.toUpperCase()}`, TOKEN, true],
    [`sha256:${DIGEST}`, `sha256:${DIGEST}`, false],
    [`sha256:${DIGEST}`, "other", false],
  ])("file %j, presented %j → %s", (content, presented, accepted) => {
    expect(JoinToken.fromFileContent(content).matches(presented)).toBe(accepted);
  });

  it.each([
    ["", "join token file is empty"],
    ["  \n", "join token file is empty"],
    ["sha256:abc", "join token file: sha256: must be followed by 64 hex digits"],
  ])("refuses file content %j", (content, message) => {
    expect(() => JoinToken.fromFileContent(content)).toThrow(message);
  });
});

describe("JoinTokenFile and rotateJoinToken", () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "trustplane-join-token-"));
    file = join(dir, "join-token");
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("rotation writes a new token 0600, atomically, and the open file accepts only the new one", async () => {
    const verifier = await JoinTokenFile.open(file, logger);
    expect(await verifier.verify(TOKEN)).toBe(true);

    const rotated = await rotateJoinToken(file, { storeHash: false });
    expect(rotated).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await readFile(file, "utf8")).toBe(`${rotated}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["join-token"]);
    expect(await verifier.verify(TOKEN)).toBe(false);
    expect(await verifier.verify(rotated)).toBe(true);
  });

  it("rotation with storeHash keeps only sha256:<hex> of the new token", async () => {
    const verifier = await JoinTokenFile.open(file, logger);
    const rotated = await rotateJoinToken(file, { storeHash: true });
    const digest = createHash("sha256").update(rotated).digest("hex");
    expect(await readFile(file, "utf8")).toBe(`sha256:${digest}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await verifier.verify(rotated)).toBe(true);
    expect(await verifier.verify(`sha256:${digest}`)).toBe(false);
    expect(await verifier.verify(TOKEN)).toBe(false);
  });

  it("two rotations give two different tokens; a file created by rotation has mode 0600", async () => {
    const fresh = join(dir, "sub", "token");
    const first = await rotateJoinToken(fresh, { storeHash: false });
    const second = await rotateJoinToken(fresh, { storeHash: false });
    expect(first).not.toBe(second);
    expect((await stat(fresh)).mode & 0o777).toBe(0o600);
    expect(await readFile(fresh, "utf8")).toBe(`${second}\n`);
  });

  it("fails closed: a removed or emptied file admits no token, a fixed one works again", async () => {
    const verifier = await JoinTokenFile.open(file, logger);
    await rm(file);
    expect(await verifier.verify(TOKEN)).toBe(false);
    await writeFile(file, "\n");
    expect(await verifier.verify(TOKEN)).toBe(false);
    await writeFile(file, `${TOKEN}\n`);
    expect(await verifier.verify(TOKEN)).toBe(true);
  });

  it("refuses to open a missing or empty file", async () => {
    await expect(JoinTokenFile.open(join(dir, "missing"), logger)).rejects.toThrow(/ENOENT/);
    await writeFile(file, "");
    await expect(JoinTokenFile.open(file, logger)).rejects.toThrow(`${file} is empty`);
  });
});
