// Executes certificate commands (install_ca, delete_ca, list_ca) against one trust
// store, one at a time. Nothing is written before the input is validated and the
// anchors and state directories are known to be real directories inside the root;
// a failed rebuild or bundle check puts the previous anchor back and rebuilds again.
import { create } from "@bufbuild/protobuf";
import type { X509Certificate } from "node:crypto";
import { lstat, readdir, readFile, stat, unlink } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import type { Logger } from "../common/logger.js";
import { CA_NAME_PATTERN, isValidCaName } from "../common/names.js";
import {
  type Command,
  type CommandResult,
  CommandResultSchema,
  type DeleteCACommand,
  type InstallCACommand,
  type ListCACommand,
} from "../gen/trustplane/v1/agent_pb.js";
import { type CertificateInfo, CertificateSource, ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import type { AgentStateFile } from "./agent-state.js";
import { isNotFound, readRegularFile, writeFileAtomic } from "./atomic-file.js";
import {
  bundleHoldsCertificate,
  certificateInfo,
  derSha256,
  sha256Hex,
  trustedCertificates,
  validateCertificatePem,
} from "./certificate-pem.js";
import type { CommandHandler } from "./command-handler.js";
import { confinedDirectoryProblem } from "./confined-directory.js";
import type { RebuildReason, TrustStore } from "./trust-store/trust-store.js";

const ANCHOR_PREFIX = "trustplane-";
const ANCHOR_SUFFIX = ".crt";
const MAX_SYSTEM_DEPTH = 8;
/** Larger files are not read when listing (distribution bundles are a few hundred KiB). */
const MAX_LISTED_FILE_BYTES = 8 * 1024 * 1024;
/** Directories of distrusted certificates inside p11-kit source trees. */
const DISTRUST_DIRS = new Set(["blocklist", "blacklist"]);

export interface CertificateProcessorOptions {
  /** Undefined when the OS has no supported trust store: every command is SKIPPED. */
  trustStore: TrustStore | undefined;
  /** SKIPPED error text when there is no trust store. */
  unsupportedReason: string;
  state: AgentStateFile;
  logger: Logger;
  now?: () => Date;
}

type Outcome = Pick<CommandResult, "status" | "changed" | "error" | "certificates">;

const ok = (changed: boolean, certificates: CertificateInfo[] = []): Outcome => ({
  status: ResultStatus.OK,
  changed,
  error: "",
  certificates,
});
const failed = (error: string): Outcome => ({ status: ResultStatus.FAILED, changed: false, error, certificates: [] });

export class CertificateProcessor implements CommandHandler {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly now: () => Date;

  constructor(private readonly options: CertificateProcessorOptions) {
    this.now = options.now ?? (() => new Date());
  }

  handle(command: Command): Promise<CommandResult> {
    const result = this.tail.then(() => this.run(command));
    this.tail = result;
    return result;
  }

  private async run(command: Command): Promise<CommandResult> {
    let outcome: Outcome;
    try {
      outcome = await this.dispatch(command);
    } catch (error) {
      this.options.logger.error({ commandId: command.id, err: (error as Error).message }, "certificate command failed");
      outcome = failed((error as Error).message);
    }
    return create(CommandResultSchema, { commandId: command.id, ...outcome });
  }

  private async dispatch(command: Command): Promise<Outcome> {
    const kind = command.kind;
    if (kind.case === undefined) return failed("unsupported command");
    const store = this.options.trustStore;
    if (!store) {
      return { status: ResultStatus.SKIPPED, changed: false, error: this.options.unsupportedReason, certificates: [] };
    }
    const problem = await this.directoriesProblem(store, kind.case !== "listCa");
    if (problem) return failed(problem);
    switch (kind.case) {
      case "installCa":
        return this.install(store, kind.value, command.dryRun);
      case "deleteCa":
        return this.delete(store, kind.value, command.dryRun);
      case "listCa":
        return this.list(store, kind.value);
      default:
        return failed("unsupported command");
    }
  }

  /** Refuses a trust store whose anchors (or, for writes, state) directory could lead a write outside the root. */
  private async directoriesProblem(store: TrustStore, writes: boolean): Promise<string | undefined> {
    const anchors = await confinedDirectoryProblem(store.root, store.anchorsDir, "anchors directory");
    if (anchors || !writes) return anchors;
    return confinedDirectoryProblem(store.root, dirname(this.options.state.path), "state directory");
  }

  private async install(store: TrustStore, command: InstallCACommand, dryRun: boolean): Promise<Outcome> {
    const { name } = command;
    if (!isValidCaName(name)) return failed(invalidNameReason(name));
    const validation = validateCertificatePem(command.pem, command.sha256);
    if (!validation.ok) return failed(validation.reason);
    const fingerprint = derSha256(validation.certificate);
    const target = anchorPath(store, name);
    const previous = await readRegularFile(target);
    if (command.requireExisting && !previous) return failed(`certificate "${name}" is not installed`);

    const sameBytes = previous !== undefined && Buffer.compare(previous, command.pem) === 0;
    if (sameBytes && (await this.bundleHolds(store, fingerprint))) {
      if (!dryRun) await this.recordInstall(name, command);
      return ok(false);
    }
    if (dryRun) return ok(true);

    await store.prepare();
    await writeFileAtomic(target, command.pem, 0o644);
    const reason: RebuildReason = previous ? "replace" : "add";
    try {
      await store.rebuild(reason);
      if (!(await this.bundleHolds(store, fingerprint))) {
        throw new Error(`certificate "${name}" is not in the bundle ${store.bundlePath} after the rebuild`);
      }
    } catch (error) {
      const rollbackProblem = await this.rollback(store, name, () =>
        previous ? writeFileAtomic(target, previous, 0o644).then(() => "replace" as const) : removeFile(target).then(() => "remove" as const),
      );
      return failed(joinProblems((error as Error).message, rollbackProblem));
    }
    await this.recordInstall(name, command);
    this.options.logger.info({ name, object: command.object, family: store.family }, "CA installed");
    return ok(true);
  }

  private async delete(store: TrustStore, command: DeleteCACommand, dryRun: boolean): Promise<Outcome> {
    const { name } = command;
    if (!isValidCaName(name)) return failed(invalidNameReason(name));
    const target = anchorPath(store, name);
    try {
      await lstat(target);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      if (!dryRun) await this.options.state.forget(name);
      return ok(false);
    }
    if (dryRun) return ok(true);

    // A symlink or other non-regular file at our name is removed (never followed) without a bundle check.
    const previous = await readRegularFile(target);
    const fingerprint = previous ? firstCertificateDigest(previous) : undefined;
    await store.prepare();
    await unlink(target);
    try {
      await store.rebuild("remove");
      if (fingerprint && (await this.bundleHolds(store, fingerprint))) {
        throw new Error(
          `certificate "${name}" is still in the bundle ${store.bundlePath} after the rebuild (is it also installed from another file?)`,
        );
      }
    } catch (error) {
      const rollbackProblem = previous
        ? await this.rollback(store, name, () => writeFileAtomic(target, previous, 0o644).then(() => "add" as const))
        : undefined;
      return failed(joinProblems((error as Error).message, rollbackProblem));
    }
    await this.options.state.forget(name);
    this.options.logger.info({ name, family: store.family }, "CA deleted");
    return ok(true);
  }

  /** Puts the previous anchor back and rebuilds; answers the problem if that fails too. */
  private async rollback(store: TrustStore, name: string, restore: () => Promise<RebuildReason>): Promise<string | undefined> {
    try {
      const reason = await restore();
      await store.rebuild(reason);
      return undefined;
    } catch (error) {
      this.options.logger.error({ name, family: store.family, err: (error as Error).message }, "rollback of the trust store failed");
      return `rollback failed: ${(error as Error).message}`;
    }
  }

  private async recordInstall(name: string, command: InstallCACommand): Promise<void> {
    const sha256 = command.sha256.toLowerCase();
    const known = await this.options.state.installed(name);
    if (known && known.object === command.object && known.sha256 === sha256) return;
    await this.options.state.record(name, { object: command.object, sha256, installedAt: this.now().toISOString() });
  }

  private async bundleHolds(store: TrustStore, fingerprint: string): Promise<boolean> {
    let bundle: string;
    try {
      bundle = await readFile(store.bundlePath, "latin1");
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    return bundleHoldsCertificate(bundle, fingerprint);
  }

  private async list(store: TrustStore, command: ListCACommand): Promise<Outcome> {
    if (CertificateSource[command.source] === undefined) return failed(`unknown certificate source ${command.source}`);
    const wanted = (source: CertificateSource) =>
      command.source === CertificateSource.UNSPECIFIED || command.source === source;
    const certificates: CertificateInfo[] = [];
    const anchors = await sortedEntries(store.anchorsDir);
    if (wanted(CertificateSource.CUSTOM)) {
      for (const entry of anchors) {
        const name = customName(entry);
        if (name === undefined) continue;
        const bytes = await readRegularFile(join(store.anchorsDir, entry));
        const certificate = bytes && this.firstCertificate(bytes, join(store.anchorsDir, entry));
        if (!bytes || !certificate) continue;
        const record = await this.options.state.installed(name);
        certificates.push(
          certificateInfo(certificate, { name, source: CertificateSource.CUSTOM, object: record?.object ?? "", sha256: sha256Hex(bytes) }),
        );
      }
    }
    if (wanted(CertificateSource.SYSTEM)) {
      await this.listTree(store.systemDir, store.systemDir, 0, certificates);
    }
    if (wanted(CertificateSource.UNMANAGED)) {
      for (const entry of anchors) {
        if (customName(entry) !== undefined || entry.startsWith(`.${ANCHOR_PREFIX}`)) continue;
        const path = join(store.anchorsDir, entry);
        if (!(await isListableFile(path))) continue;
        this.pushFile(path, entry, CertificateSource.UNMANAGED, await readFile(path), certificates);
      }
    }
    return ok(false, certificates);
  }

  private async listTree(base: string, dir: string, depth: number, into: CertificateInfo[]): Promise<void> {
    if (depth > MAX_SYSTEM_DEPTH) return;
    for (const entry of await sortedEntries(dir)) {
      const path = join(dir, entry);
      let info;
      try {
        info = await stat(path);
      } catch {
        continue;
      }
      if (info.isDirectory()) {
        if (!DISTRUST_DIRS.has(entry)) await this.listTree(base, path, depth + 1, into);
      } else if (info.isFile() && info.size <= MAX_LISTED_FILE_BYTES) {
        this.pushFile(path, relative(base, path), CertificateSource.SYSTEM, await readFile(path), into);
      }
    }
  }

  /** One entry per trusted certificate in the file; `name#N` when the file holds several. */
  private pushFile(path: string, name: string, source: CertificateSource, bytes: Buffer, into: CertificateInfo[]): void {
    const found = trustedCertificates(bytes.toString("latin1"));
    if (found.length === 0) {
      this.options.logger.debug({ path }, "skipping a trust-store file without a parseable certificate");
      return;
    }
    found.forEach((certificate, index) => {
      into.push(certificateInfo(certificate, { name: found.length === 1 ? name : `${name}#${index + 1}`, source }));
    });
  }

  private firstCertificate(bytes: Buffer, path: string): X509Certificate | undefined {
    const certificate = trustedCertificates(bytes.toString("latin1"))[0];
    if (!certificate) this.options.logger.debug({ path }, "skipping an anchor without a parseable certificate");
    return certificate;
  }
}

function anchorPath(store: TrustStore, name: string): string {
  return join(store.anchorsDir, `${ANCHOR_PREFIX}${name}${ANCHOR_SUFFIX}`);
}

/** The CA name of a `trustplane-<name>.crt` file name, or undefined. */
function customName(fileName: string): string | undefined {
  if (!fileName.startsWith(ANCHOR_PREFIX) || !fileName.endsWith(ANCHOR_SUFFIX)) return undefined;
  const name = fileName.slice(ANCHOR_PREFIX.length, -ANCHOR_SUFFIX.length);
  return isValidCaName(name) ? name : undefined;
}

function invalidNameReason(name: string): string {
  return `invalid CA name "${name.slice(0, 80)}": must match ${CA_NAME_PATTERN.source}`;
}

function firstCertificateDigest(bytes: Buffer): string | undefined {
  const certificate = trustedCertificates(bytes.toString("latin1"))[0];
  return certificate && derSha256(certificate);
}

async function sortedEntries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

async function isListableFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    return info.isFile() && info.size <= MAX_LISTED_FILE_BYTES;
  } catch {
    return false;
  }
}

async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

function joinProblems(problem: string, rollbackProblem: string | undefined): string {
  return rollbackProblem ? `${problem}; ${rollbackProblem}` : problem;
}
