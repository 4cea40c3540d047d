// The seam between the certificate processor and one OS family's trust store.
// Each family (debian.ts, rhel.ts, ...) describes its paths and rebuild command;
// select-trust-store.ts picks one from os-release. Every path is under the root.
import type { RebuildInvocation } from "./rebuild-command.js";

/** Why the store is rebuilt; Debian's tool needs `--fresh` when an anchor goes away or changes. */
export type RebuildReason = "add" | "replace" | "remove";

export interface TrustStore {
  /** Family name reported in OsFacts.trust_store ("debian", "rhel", "suse", "arch"). */
  readonly family: string;
  readonly root: string;
  /** Absolute directory holding `trustplane-<name>.crt` anchors. */
  readonly anchorsDir: string;
  /** Absolute directory of the distribution's own CAs (listed as `system`). */
  readonly systemDir: string;
  /** Absolute path of the PEM bundle the rebuild writes and the check reads. */
  readonly bundlePath: string;
  /** Creates what the rebuild tool needs under the root. Called before real writes only. */
  prepare(): Promise<void>;
  /** Runs the rebuild; rejects with a RebuildError carrying the tool's stderr. */
  rebuild(reason: RebuildReason): Promise<void>;
}

export interface TrustStoreOptions {
  root: string;
  /** A program run instead of the family's rebuild binary, with the same arguments. */
  updateCommand?: string;
  /** Kill the rebuild after this long; default 120 s. */
  rebuildTimeoutMs?: number;
  /**
   * How the rebuild command runs; default a child process (runRebuildCommand). For an
   * embedding that runs many agents in one process, such as bench:fanout, whose
   * figure must be trustplane's and not the cost of spawning a tool per node.
   */
  runRebuild?: RebuildRunner;
}

export type RebuildRunner = (invocation: RebuildInvocation) => Promise<unknown>;

export interface TrustStoreFamily {
  readonly name: string;
  /** Whether an os-release `ID` or `ID_LIKE` entry belongs to this family. */
  matches(osId: string): boolean;
  create(options: TrustStoreOptions): TrustStore;
}
