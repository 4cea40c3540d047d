// TrustStoreOptions.runRebuild: the rebuild command's invocation goes to the given
// runner (as bench:fanout uses it) instead of a child process, arguments unchanged.
import { afterEach, describe, expect, it } from "vitest";
import { readOsRelease } from "../os-release.js";
import { makeSandboxRoot, removeDir } from "../testing/sandbox-root.js";
import type { RebuildInvocation } from "./rebuild-command.js";
import { selectTrustStoreFamily } from "./select-trust-store.js";

describe("runRebuild", () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await removeDir(root);
    root = undefined;
  });

  it("receives the family's command, arguments and root, and its failure fails the rebuild", async () => {
    root = await makeSandboxRoot("ID=rocky\nID_LIKE=\"rhel centos fedora\"\n");
    const invocations: RebuildInvocation[] = [];
    let fail = false;
    const store = selectTrustStoreFamily(await readOsRelease(root))!.create({
      root,
      runRebuild: async (invocation) => {
        invocations.push(invocation);
        if (fail) throw new Error("rebuild refused");
      },
    });
    await store.prepare();
    await store.rebuild("add");
    expect(invocations).toEqual([{ command: "update-ca-trust", args: ["extract"], root, timeoutMs: undefined }]);
    fail = true;
    await expect(store.rebuild("remove")).rejects.toThrow("rebuild refused");
  });
});
