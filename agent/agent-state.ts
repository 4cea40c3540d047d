// The agent's record of what it installed: which object each custom CA came from.
// A small JSON file under the root, written atomically, only by real installs and
// deletes. Callers serialise access (the certificate processor runs one command at a time).
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "../common/logger.js";
import { isNotFound, writeFileAtomic } from "./atomic-file.js";

export const AGENT_STATE_PATH = "var/lib/trustplane/agent-state.json";

export interface InstalledCertificate {
  object: string;
  sha256: string;
  /** RFC 3339 time of the install that wrote this record. */
  installedAt: string;
}

interface StateDocument {
  version: 1;
  certificates: Record<string, InstalledCertificate>;
}

export class AgentStateFile {
  readonly path: string;
  private cached: StateDocument | undefined;

  constructor(
    root: string,
    private readonly logger: Logger,
  ) {
    this.path = join(root, AGENT_STATE_PATH);
  }

  async installed(name: string): Promise<InstalledCertificate | undefined> {
    return (await this.load()).certificates[name];
  }

  async record(name: string, certificate: InstalledCertificate): Promise<void> {
    const document = await this.load();
    const certificates = { ...document.certificates, [name]: certificate };
    await this.save({ version: 1, certificates });
  }

  async forget(name: string): Promise<void> {
    const document = await this.load();
    if (!(name in document.certificates)) return;
    const { [name]: _removed, ...certificates } = document.certificates;
    await this.save({ version: 1, certificates });
  }

  private async load(): Promise<StateDocument> {
    if (this.cached) return this.cached;
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return (this.cached = { version: 1, certificates: {} });
    }
    try {
      const parsed = JSON.parse(text) as Partial<StateDocument>;
      const certificates = parsed.certificates && typeof parsed.certificates === "object" ? parsed.certificates : {};
      this.cached = { version: 1, certificates };
    } catch (error) {
      this.logger.warn({ path: this.path, err: (error as Error).message }, "agent state file is not valid JSON; starting empty");
      this.cached = { version: 1, certificates: {} };
    }
    return this.cached;
  }

  private async save(document: StateDocument): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileAtomic(this.path, `${JSON.stringify(document, null, 2)}\n`, 0o600);
    this.cached = document;
  }
}
