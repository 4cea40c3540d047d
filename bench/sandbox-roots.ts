// Sandbox trust-store roots for bench agents: a Debian `etc/os-release`, nothing
// else (the agent creates the trust-store directories it needs), optionally a
// bundle written in advance for a rebuild command that writes nothing.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const DEBIAN_OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';

/** Where the Debian layout keeps anchors and the bundle, relative to a root. */
export const DEBIAN_ANCHORS_DIR = "usr/local/share/ca-certificates";
export const DEBIAN_BUNDLE = "etc/ssl/certs/ca-certificates.crt";

export async function makeDebianRoot(root: string, prefilledBundle?: string): Promise<void> {
  await mkdir(join(root, "etc"), { recursive: true });
  await writeFile(join(root, "etc/os-release"), DEBIAN_OS_RELEASE);
  if (prefilledBundle !== undefined) {
    await mkdir(join(root, "etc/ssl/certs"), { recursive: true });
    await writeFile(join(root, DEBIAN_BUNDLE), prefilledBundle);
  }
}

/** Makes one root `dir/<name>` per name, at most `parallel` at a time. */
export async function makeDebianRoots(dir: string, names: readonly string[], prefilledBundle?: string, parallel = 64): Promise<string[]> {
  const roots = names.map((name) => join(dir, name));
  let next = 0;
  const worker = async () => {
    while (next < roots.length) await makeDebianRoot(roots[next++]!, prefilledBundle);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, roots.length) }, worker));
  return roots;
}

/**
 * A stand-in for update-ca-certificates that writes what the agent checks: the
 * bundle is the anchors, concatenated (one fork, two execs: sh, then cat).
 */
export function catRebuildScript(): string {
  return [
    "#!/bin/sh",
    "# Bench stand-in for update-ca-certificates: bundle = the anchors, concatenated.",
    `exec cat "$TRUSTPLANE_ROOT"/${DEBIAN_ANCHORS_DIR}/*.crt > "$TRUSTPLANE_ROOT"/${DEBIAN_BUNDLE}`,
    "",
  ].join("\n");
}
