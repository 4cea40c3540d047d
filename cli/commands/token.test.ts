// `trustplane token rotate`: the file's content and mode, and what is printed.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readJoinToken } from "../join-token-file.js";
import { CapturedIo } from "../testing/captured-io.js";
import { tokenCommand } from "./token.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "trustplane-cli-token-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

describe("trustplane token rotate", () => {
  it("replaces the token in the file (0600), prints no token", async () => {
    const file = join(dir, "join-token");
    await writeFile(file, "old-token\n", { mode: 0o644 });
    const io = new CapturedIo({});
    expect(await tokenCommand(["rotate", "--join-token-file", file], io)).toBe(0);
    const token = await readJoinToken(file, "test");
    expect(token).toMatch(TOKEN);
    expect(await readFile(file, "utf8")).toBe(`${token}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(io.stdout.text).toBe(`Rotated the join token in ${file} (mode 0600). Copy that file to every agent as its --join-token-file.\n`);
    expect(io.stdout.text).not.toContain(token);
    expect(await readdir(dir)).toEqual(["join-token"]);

    await tokenCommand(["rotate", "--join-token-file", file], new CapturedIo({}));
    expect(await readJoinToken(file, "test")).not.toBe(token);
  });

  it("--store-hash: the file holds sha256:<hex> of the token printed once", async () => {
    const file = join(dir, "state", "join-token");
    const io = new CapturedIo({});
    expect(await tokenCommand(["rotate", "--store-hash", "--join-token-file", file], io)).toBe(0);
    const match = /^Rotated the join token: (.+) now holds only its SHA-256 \(mode 0600\)\. The new token, shown only once:\n\n {2}(\S+)\n\nPut it in the --join-token-file of every agent\.\n$/.exec(io.stdout.text);
    expect(match?.[1]).toBe(file);
    const token = match![2]!;
    expect(token).toMatch(TOKEN);
    expect(await readFile(file, "utf8")).toBe(`sha256:${createHash("sha256").update(token).digest("hex")}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("--help and a wrong action", async () => {
    const io = new CapturedIo({});
    expect(await tokenCommand(["rotate", "--help"], io)).toBe(0);
    expect(io.stdout.text).toContain("--store-hash");
    await expect(tokenCommand(["spin"], io)).rejects.toThrow('trustplane token: expected one of "rotate", got "spin" (see --help)');
  });
});
