// Sandbox trust-store roots for agents under test: only etc/os-release at start.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, lstatSync, readlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

export const DEBIAN_OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';

export function makeSandboxRoot(dir: string, osRelease = DEBIAN_OS_RELEASE): string {
  mkdirSync(join(dir, "etc"), { recursive: true });
  writeFileSync(join(dir, "etc", "os-release"), osRelease);
  return dir;
}

/** The bundle the Debian family's tool writes under a root. */
export function debianBundle(root: string): string {
  return join(root, "etc", "ssl", "certs", "ca-certificates.crt");
}

export function debianAnchor(root: string, name: string): string {
  return join(root, "usr", "local", "share", "ca-certificates", `trustplane-${name}.crt`);
}

/** Every file, link and directory under `dir` with its content hash and mode: equal maps mean byte-identical trees. */
export function treeSnapshot(dir: string): Record<string, string> {
  const snapshot: Record<string, string> = {};
  const walk = (path: string) => {
    const stat = lstatSync(path);
    const key = relative(dir, path) || ".";
    if (stat.isSymbolicLink()) {
      snapshot[key] = `link ${readlinkSync(path)}`;
    } else if (stat.isDirectory()) {
      snapshot[key] = `dir ${(stat.mode & 0o7777).toString(8)}`;
      for (const entry of readdirSync(path).sort()) walk(join(path, entry));
    } else {
      snapshot[key] = `file ${(stat.mode & 0o7777).toString(8)} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
    }
  };
  walk(dir);
  return snapshot;
}
