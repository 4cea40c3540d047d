// The audit trail: one structured line per authenticated request that changes state
// or reads trust data (install, update, delete and list of CAs, file upload, get and
// delete, forgetting an agent) — who (key id), what (RPC, target, job id), the
// outcome (status code) and how long it took. Each line goes to the log (info,
// `audit: true`) and, when a file is given, is appended to it as one JSON line
// (created 0600). Secrets, API keys, tokens and PEM bodies never appear in it:
// callers put only ids, names, digests and outcomes in an entry.
import { chmod, mkdir, open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../common/logger.js";

export interface AuditEntry {
  /** The API key's id (never the key). */
  keyId: string;
  keyName: string;
  /** The full RPC path, "/trustplane.v1.CertificateService/InstallCA". */
  method: string;
  /** Target of a certificate job, object name of a file call, hostname of ForgetAgent. */
  target: string;
  /** The gRPC status name: "OK", "INVALID_ARGUMENT", "UNAVAILABLE", … */
  code: string;
  durationMs: number;
  /** `call.getPeer()` of the caller (the gateway's address for REST requests). */
  peer: string;
  jobId?: string;
  /** CA name of a certificate job. */
  name?: string;
  /** Object-store name an install or update took its PEM from. */
  object?: string;
  /** The refusal or fault, for a code other than OK. */
  error?: string;
  /** Method-specific outcome: host counts, `changed`, the object's sha256, dry run. */
  [field: string]: unknown;
}

export interface AuditLogOptions {
  logger: Logger;
  /** JSON-lines file to append to; created 0600 (its directory 0700) if missing. */
  file?: string;
}

export class AuditLog {
  private tail: Promise<void> = Promise.resolve();
  private failing = false;

  private constructor(
    private readonly logger: Logger,
    private readonly file: string | undefined,
    private readonly handle: FileHandle | undefined,
  ) {}

  /** Opens (creates) the audit file, if any; throws if it cannot be written. */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    if (options.file === undefined) return new AuditLog(options.logger, undefined, undefined);
    await mkdir(dirname(options.file), { recursive: true, mode: 0o700 });
    const handle = await open(options.file, "a", 0o600);
    try {
      // An existing file keeps its mode on open: make sure it is not readable by others.
      await chmod(options.file, 0o600);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new AuditLog(options.logger, options.file, handle);
  }

  record(entry: AuditEntry): void {
    this.logger.info({ audit: true, ...entry }, "audit");
    const handle = this.handle;
    if (!handle) return;
    const line = `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`;
    this.tail = this.tail.then(async () => {
      try {
        await handle.appendFile(line, "utf8");
        this.failing = false;
      } catch (error) {
        if (!this.failing) this.logger.error({ file: this.file, err: (error as Error).message }, "cannot append to the audit file");
        this.failing = true;
      }
    });
  }

  /** Resolves once every line recorded before the call is in the file. */
  flush(): Promise<void> {
    return this.tail;
  }

  async close(): Promise<void> {
    await this.tail;
    await this.handle?.close();
  }
}
