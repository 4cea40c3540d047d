// The behaviour every ObjectStore implementation shares, as a vitest suite that an
// implementation's test file runs against its own store.
import { createHash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { expect, it } from "vitest";
import type { ObjectStore } from "../object-store/object-store.js";

const sha256 = (content: string) => createHash("sha256").update(content).digest("hex");

/** `store()` answers the store under test (fresh and empty for each test). */
export function objectStoreContract(store: () => ObjectStore): void {
  it("puts, heads, gets, lists and deletes", async () => {
    const before = Date.now() - 5_000;
    const info = await store().put("corp-ca.pem", Buffer.from("pem one\n"));
    expect(info).toMatchObject({ name: "corp-ca.pem", sha256: sha256("pem one\n"), size: 8 });
    expect(info.updatedAt.getTime()).toBeGreaterThanOrEqual(before);

    expect(await store().head("corp-ca.pem")).toMatchObject({ name: "corp-ca.pem", sha256: sha256("pem one\n"), size: 8 });
    const got = await store().get("corp-ca.pem");
    expect(got?.content.toString()).toBe("pem one\n");
    expect(got?.info.sha256).toBe(sha256("pem one\n"));

    await store().put("a.pem", Buffer.from("a"));
    expect((await store().list()).map((i) => [i.name, i.sha256, i.size])).toEqual([
      ["a.pem", sha256("a"), 1],
      ["corp-ca.pem", sha256("pem one\n"), 8],
    ]);

    expect((await store().delete("a.pem"))?.name).toBe("a.pem");
    expect(await store().delete("a.pem")).toBeUndefined();
    expect((await store().list()).map((i) => i.name)).toEqual(["corp-ca.pem"]);
  });

  it("replaces content under the same name", async () => {
    await store().put("x.pem", Buffer.from("old"));
    const replaced = await store().put("x.pem", Buffer.from("newer"));
    expect(replaced).toMatchObject({ sha256: sha256("newer"), size: 5 });
    expect((await store().get("x.pem"))?.content.toString()).toBe("newer");
    expect((await store().head("x.pem"))?.sha256).toBe(sha256("newer"));
  });

  it("answers undefined for unknown names and an empty list when empty", async () => {
    expect(await store().get("missing.pem")).toBeUndefined();
    expect(await store().head("missing.pem")).toBeUndefined();
    expect(await store().list()).toEqual([]);
  });

  it.each(["../escape.pem", ".hidden", "a/b.pem", ""])("refuses the name %j with INVALID_ARGUMENT", async (name) => {
    await expect(store().put(name, Buffer.from("x"))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(store().get(name)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });
}
