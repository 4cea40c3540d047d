// Flags naming PEM files (--tls-cert, --tls-key, --ca, --client-ca, ...): read and
// checked at the start, so a missing, unreadable or wrong file is one usage line
// naming the flag and the file (exit 2), not a TLS error later.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { UsageError } from "./usage-error.js";

/** "certificate": one or more certificates (a CA bundle, a chain); "key": one private key. */
export type PemKind = "certificate" | "key";

export interface KeyPairPem {
  certPem: Buffer;
  keyPem: Buffer;
}

function readProblem(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

function checkPem(content: Buffer, path: string, flag: string, command: string, kind: PemKind): Buffer {
  const text = content.toString("latin1");
  if (kind === "certificate") {
    let parsed = /-----BEGIN CERTIFICATE-----/.test(text);
    try {
      if (parsed) new X509Certificate(content);
    } catch {
      parsed = false;
    }
    if (!parsed) throw new UsageError(`${command}: ${flag} ${path} is not a PEM certificate`);
  } else {
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
      throw new UsageError(`${command}: ${flag} ${path} is an encrypted private key; give it unencrypted (mode 0600)`);
    }
    let parsed = /-----BEGIN (EC |RSA )?PRIVATE KEY-----/.test(text);
    try {
      if (parsed) createPrivateKey(content);
    } catch {
      parsed = false;
    }
    if (!parsed) throw new UsageError(`${command}: ${flag} ${path} is not a PEM private key`);
  }
  return content;
}

/** The file's bytes, checked to be PEM of `kind`. */
export async function readPemFlag(path: string, flag: string, command: string, kind: PemKind): Promise<Buffer> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (error) {
    throw new UsageError(`${command}: cannot read ${flag} ${path}: ${readProblem(error)}`);
  }
  return checkPem(content, path, flag, command, kind);
}

/** readPemFlag, for the synchronous start of a client command. */
export function readPemFlagSync(path: string, flag: string, command: string, kind: PemKind): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (error) {
    throw new UsageError(`${command}: cannot read ${flag} ${path}: ${readProblem(error)}`);
  }
  return checkPem(content, path, flag, command, kind);
}

/**
 * A certificate and its key from two flags given together (both absent: undefined);
 * one without the other, or a key that is not the certificate's, is a usage error.
 */
export async function readKeyPairFlags(
  files: { cert: string | undefined; key: string | undefined },
  flags: { cert: string; key: string },
  command: string,
): Promise<KeyPairPem | undefined> {
  if (files.cert === undefined && files.key === undefined) return undefined;
  if (files.key === undefined) throw new UsageError(`${command}: ${flags.cert} needs ${flags.key}`);
  if (files.cert === undefined) throw new UsageError(`${command}: ${flags.key} needs ${flags.cert}`);
  const certPem = await readPemFlag(files.cert, flags.cert, command, "certificate");
  const keyPem = await readPemFlag(files.key, flags.key, command, "key");
  if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
    throw new UsageError(`${command}: ${flags.key} ${files.key} is not the key of ${flags.cert} ${files.cert}`);
  }
  return { certPem, keyPem };
}
