// Test support: sandbox roots for trust-store tests, a stand-in rebuild tool that
// records how it was called, and a hash of a whole tree to prove a dry run wrote nothing.
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import type { Logger } from "../../common/logger.js";
import { type Command, CommandSchema, DeleteCACommandSchema, InstallCACommandSchema, ListCACommandSchema } from "../../gen/trustplane/v1/agent_pb.js";
import { CertificateSource } from "../../gen/trustplane/v1/common_pb.js";
import { AgentStateFile } from "../agent-state.js";
import { sha256Hex } from "../certificate-pem.js";
import { CertificateProcessor } from "../certificate-processor.js";
import { readOsRelease } from "../os-release.js";
import { selectTrustStoreFamily, unsupportedOsReason } from "../trust-store/select-trust-store.js";

export const silentLogger: Logger = pino({ level: "silent" });

/** A temp dir holding only `etc/os-release` with the given lines. */
export async function makeSandboxRoot(osRelease: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "trustplane-agent-root-"));
  await mkdir(join(root, "etc"), { recursive: true });
  await writeFile(join(root, "etc/os-release"), osRelease);
  return root;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface StandIn {
  /** The script to pass as updateCommand. */
  command: string;
  /** Directory holding the call log and the failure switches. */
  dir: string;
  /** Every call so far: its TRUSTPLANE_ROOT and argv. */
  calls(): Promise<{ root: string; args: string[] }[]>;
  /** Make the next rebuild exit 1 (`once`) or every rebuild (`always`). */
  fail(mode: "once" | "always" | "never"): Promise<void>;
}

/**
 * A stand-in rebuild tool: records argv and TRUSTPLANE_ROOT, then writes the bundle
 * at `<root><bundlePath>` by concatenating the files of `<root><anchorsDir>`.
 */
export async function makeStandIn(anchorsDir: string, bundlePath: string): Promise<StandIn> {
  const dir = await mkdtemp(join(tmpdir(), "trustplane-standin-"));
  const command = join(dir, "rebuild.sh");
  const log = join(dir, "calls.log");
  await writeFile(
    command,
    [
      "#!/bin/sh",
      "set -e",
      `{ printf 'root=%s\\n' "$TRUSTPLANE_ROOT"; for a in "$@"; do printf 'arg=%s\\n' "$a"; done; printf 'end\\n'; } >> '${log}'`,
      `if [ -e '${dir}/fail-always' ]; then echo "stand-in: rebuild broke" >&2; exit 1; fi`,
      `if [ -e '${dir}/fail-once' ]; then rm -f '${dir}/fail-once'; echo "stand-in: rebuild broke" >&2; exit 1; fi`,
      `anchors="$TRUSTPLANE_ROOT${anchorsDir}"`,
      `bundle="$TRUSTPLANE_ROOT${bundlePath}"`,
      'mkdir -p "$(dirname "$bundle")"',
      ': > "$bundle.new"',
      'for f in "$anchors"/*; do if [ -f "$f" ]; then cat "$f" >> "$bundle.new"; fi; done',
      'mv "$bundle.new" "$bundle"',
      "",
    ].join("\n"),
  );
  await chmod(command, 0o755);
  return {
    command,
    dir,
    async calls() {
      let text: string;
      try {
        text = await readFile(log, "utf8");
      } catch {
        return [];
      }
      const calls: { root: string; args: string[] }[] = [];
      let current: { root: string; args: string[] } | undefined;
      for (const line of text.split("\n")) {
        if (line.startsWith("root=")) current = { root: line.slice(5), args: [] };
        else if (line.startsWith("arg=")) current?.args.push(line.slice(4));
        else if (line === "end" && current) calls.push(current);
      }
      return calls;
    },
    async fail(mode) {
      await rm(join(dir, "fail-once"), { force: true });
      await rm(join(dir, "fail-always"), { force: true });
      if (mode !== "never") await writeFile(join(dir, `fail-${mode}`), "");
    },
  };
}

/** A CertificateProcessor for `root`, chosen from its os-release like the agent does. */
export async function processorFor(root: string, updateCommand?: string): Promise<CertificateProcessor> {
  const os = await readOsRelease(root);
  const trustStore = selectTrustStoreFamily(os)?.create({ root, updateCommand });
  return new CertificateProcessor({
    trustStore,
    unsupportedReason: unsupportedOsReason(os),
    state: new AgentStateFile(root, silentLogger),
    logger: silentLogger,
  });
}

let commandCounter = 0;
const nextId = () => `cmd-${++commandCounter}`;

export function installCommand(name: string, pem: string | Uint8Array, fields: { object?: string; dryRun?: boolean; requireExisting?: boolean; sha256?: string } = {}): Command {
  const bytes = typeof pem === "string" ? Buffer.from(pem) : pem;
  return create(CommandSchema, {
    id: nextId(),
    jobId: "job-1",
    dryRun: fields.dryRun ?? false,
    kind: {
      case: "installCa",
      value: create(InstallCACommandSchema, {
        name,
        pem: bytes,
        sha256: fields.sha256 ?? sha256Hex(bytes),
        object: fields.object ?? `${name}.pem`,
        requireExisting: fields.requireExisting ?? false,
      }),
    },
  });
}

export function deleteCommand(name: string, dryRun = false): Command {
  return create(CommandSchema, { id: nextId(), jobId: "job-1", dryRun, kind: { case: "deleteCa", value: create(DeleteCACommandSchema, { name }) } });
}

export function listCommand(source = CertificateSource.UNSPECIFIED): Command {
  return create(CommandSchema, { id: nextId(), jobId: "job-1", kind: { case: "listCa", value: create(ListCACommandSchema, { source }) } });
}

/** path below `dir` → file type, mode and content hash (or link target): any change shows. */
export async function hashTree(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  async function walk(current: string, prefix: string): Promise<void> {
    for (const entry of (await readdir(current)).sort()) {
      const path = join(current, entry);
      const key = prefix ? `${prefix}/${entry}` : entry;
      const stats = await lstat(path);
      const mode = (stats.mode & 0o7777).toString(8);
      if (stats.isSymbolicLink()) result[key] = `link ${await readlink(path)}`;
      else if (stats.isDirectory()) {
        result[key] = `dir ${mode}`;
        await walk(path, key);
      } else result[key] = `file ${mode} ${createHash("sha256").update(await readFile(path)).digest("hex")}`;
    }
  }
  await walk(dir, "");
  return result;
}
