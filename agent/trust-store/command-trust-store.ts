// A trust store whose rebuild is one external command: the shape every supported
// family shares. A family file gives its layout and command; this runs it.
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { runRebuildCommand } from "./rebuild-command.js";
import type { RebuildReason, TrustStore, TrustStoreOptions } from "./trust-store.js";

export interface TrustStoreLayout {
  family: string;
  /** Paths as on a real system (leading `/`); they are placed under the root. */
  anchorsDir: string;
  systemDir: string;
  bundlePath: string;
  /** The rebuild binary (looked up on PATH unless absolute). */
  command: string;
  args(reason: RebuildReason, store: CommandTrustStore): string[];
  /** Extra preparation, for example config files a sandbox root lacks. */
  prepare?(store: CommandTrustStore): Promise<void>;
  /** Runs after a successful rebuild, to correct what the tool leaves stale. */
  afterRebuild?(reason: RebuildReason, store: CommandTrustStore): Promise<void>;
}

export class CommandTrustStore implements TrustStore {
  readonly family: string;
  readonly root: string;
  readonly anchorsDir: string;
  readonly systemDir: string;
  readonly bundlePath: string;

  constructor(
    private readonly options: TrustStoreOptions,
    private readonly layout: TrustStoreLayout,
  ) {
    this.family = layout.family;
    this.root = options.root;
    this.anchorsDir = underRoot(options.root, layout.anchorsDir);
    this.systemDir = underRoot(options.root, layout.systemDir);
    this.bundlePath = underRoot(options.root, layout.bundlePath);
  }

  /** `path` (written as on a real system) inside this store's root. */
  path(systemPath: string): string {
    return underRoot(this.root, systemPath);
  }

  get isSandbox(): boolean {
    return !isRealRoot(this.root);
  }

  async prepare(): Promise<void> {
    await mkdir(this.anchorsDir, { recursive: true });
    if (this.isSandbox) await mkdir(dirname(this.bundlePath), { recursive: true });
    await this.layout.prepare?.(this);
  }

  async rebuild(reason: RebuildReason): Promise<void> {
    const run = this.options.runRebuild ?? runRebuildCommand;
    await run({
      command: this.options.updateCommand ?? this.layout.command,
      args: this.layout.args(reason, this),
      root: this.root,
      timeoutMs: this.options.rebuildTimeoutMs,
    });
    await this.layout.afterRebuild?.(reason, this);
  }
}

export function underRoot(root: string, systemPath: string): string {
  return join(root, systemPath);
}

export function isRealRoot(root: string): boolean {
  return join(root) === "/";
}
