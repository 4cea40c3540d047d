// The agents' join token. The file holds the token or `sha256:<hex>` of it; only the
// digest is kept in memory and presented tokens are compared in constant time.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";

export interface JoinTokenVerifier {
  verify(presented: string): boolean;
}

export class JoinToken implements JoinTokenVerifier {
  private constructor(private readonly digest: Buffer) {}

  /** From the file's content: the token itself, or `sha256:<64 hex digits>`. */
  static fromFileContent(text: string, source = "join token file"): JoinToken {
    const value = text.trim();
    if (value === "") throw new Error(`${source} is empty`);
    if (value.startsWith("sha256:")) {
      const hex = value.slice("sha256:".length).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${source}: sha256: must be followed by 64 hex digits`);
      return new JoinToken(Buffer.from(hex, "hex"));
    }
    return new JoinToken(createHash("sha256").update(value, "utf8").digest());
  }

  static async fromFile(path: string): Promise<JoinToken> {
    return JoinToken.fromFileContent(await readFile(path, "utf8"), path);
  }

  verify(presented: string): boolean {
    if (presented === "") return false;
    return timingSafeEqual(createHash("sha256").update(presented, "utf8").digest(), this.digest);
  }
}
