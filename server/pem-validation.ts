// Validates an object's bytes as one CA certificate before any agent sees them
// (DESIGN.md section 5): exactly one CERTIFICATE block and no other PEM block, parses
// as X.509, basic constraints CA:TRUE, inside its validity period, at most 64 KiB.
// The blocks are counted here because node's X509Certificate accepts a private key
// glued to a certificate and keeps only the first certificate of a bundle.
import { X509Certificate } from "node:crypto";
import { invalidArgument } from "../common/status-error.js";

export const MAX_PEM_BYTES = 64 * 1024;

const BEGIN = /-----BEGIN ([^\r\n-]*)-----/g;
const BLOCK = /-----BEGIN ([^\r\n-]*)-----\r?\n[\s\S]*?-----END \1-----/g;

export interface ValidatedCa {
  certificate: X509Certificate;
  /** The block's validity end, as a Date. */
  notAfter: Date;
}

function refuse(objectName: string, reason: string) {
  return invalidArgument(`object "${objectName}" ${reason}`, "an object installed as a CA must hold exactly one PEM CERTIFICATE block of a CA certificate that is currently valid");
}

/** Throws INVALID_ARGUMENT with the reason when `content` is not one valid CA certificate. */
export function validateCaPem(objectName: string, content: Uint8Array, now: Date = new Date()): ValidatedCa {
  if (content.byteLength > MAX_PEM_BYTES) throw refuse(objectName, `is larger than ${MAX_PEM_BYTES / 1024} KiB`);
  const text = Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString("latin1");

  const begins = [...text.matchAll(BEGIN)].map((match) => match[1]!);
  if (begins.length === 0) throw refuse(objectName, "is not PEM: no -----BEGIN CERTIFICATE----- block");
  const other = begins.find((label) => label !== "CERTIFICATE");
  if (other !== undefined) throw refuse(objectName, `contains a ${other} block; only one CERTIFICATE block is allowed`);
  if (begins.length > 1) throw refuse(objectName, `holds ${begins.length} certificates, expected exactly 1`);
  const blocks = [...text.matchAll(BLOCK)];
  if (blocks.length !== 1) throw refuse(objectName, "is not PEM: the CERTIFICATE block has no matching END line");

  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(blocks[0]![0]);
  } catch (error) {
    throw refuse(objectName, `is not a valid X.509 certificate: ${(error as Error).message}`);
  }
  if (!certificate.ca) throw refuse(objectName, "is not a CA certificate: basic constraints CA:FALSE");
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  if (notAfter.getTime() < now.getTime()) throw refuse(objectName, `expired on ${notAfter.toISOString()}`);
  if (notBefore.getTime() > now.getTime()) throw refuse(objectName, `is not valid before ${notBefore.toISOString()}`);
  return { certificate, notAfter };
}
