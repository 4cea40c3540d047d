// PEM handling on the agent: validating the PEM a command carries, finding
// certificates in bundles and trust-store files, and describing one certificate.
import { create } from "@bufbuild/protobuf";
import { createHash, X509Certificate } from "node:crypto";
import { type CertificateInfo, CertificateInfoSchema, type CertificateSource } from "../gen/trustplane/v1/common_pb.js";

export const MAX_PEM_BYTES = 64 * 1024;

const PEM_BEGIN = /-----BEGIN ([^-\r\n]*)-----/g;
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;

export type PemValidation = { ok: true; certificate: X509Certificate } | { ok: false; reason: string };

/**
 * Checks the PEM of an install command before anything touches disk: size, digest,
 * exactly one PEM block which is a CERTIFICATE, and that it parses.
 */
export function validateCertificatePem(pem: Uint8Array, expectedSha256: string): PemValidation {
  if (pem.byteLength === 0) return { ok: false, reason: "PEM is empty" };
  if (pem.byteLength > MAX_PEM_BYTES) {
    return { ok: false, reason: `PEM is ${pem.byteLength} bytes, more than the limit of ${MAX_PEM_BYTES}` };
  }
  const digest = sha256Hex(pem);
  if (digest !== expectedSha256.toLowerCase()) {
    return { ok: false, reason: `PEM SHA-256 mismatch: command says ${expectedSha256 || "(empty)"}, bytes hash to ${digest}` };
  }
  const text = Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength).toString("latin1");
  const labels = [...text.matchAll(PEM_BEGIN)].map((match) => match[1]);
  if (labels.length !== 1) {
    return { ok: false, reason: `PEM must hold exactly one block, a CERTIFICATE; found ${labels.length} blocks` };
  }
  if (labels[0] !== "CERTIFICATE") return { ok: false, reason: `PEM block is "${labels[0]}", not CERTIFICATE` };
  const block = [...text.matchAll(CERTIFICATE_BLOCK)][0];
  if (!block) return { ok: false, reason: "PEM CERTIFICATE block is not terminated or holds invalid characters" };
  try {
    return { ok: true, certificate: new X509Certificate(block[0]) };
  } catch (error) {
    return { ok: false, reason: `certificate does not parse: ${(error as Error).message}` };
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Lower-case hex SHA-256 of the certificate's DER bytes: what a bundle is searched for. */
export function derSha256(certificate: X509Certificate): string {
  return sha256Hex(certificate.raw);
}

/** Whether any CERTIFICATE block of `bundle` has the DER SHA-256 `derDigest`. */
export function bundleHoldsCertificate(bundle: string, derDigest: string): boolean {
  for (const match of bundle.matchAll(CERTIFICATE_BLOCK)) {
    const der = Buffer.from(match[1] ?? "", "base64");
    if (der.length > 0 && sha256Hex(der) === derDigest) return true;
  }
  return false;
}

/**
 * The certificates a trust-store file trusts, parsed. For p11-kit object files
 * (`[p11-kit-object-v1]` sections, RHEL and Arch distribution bundles), objects
 * marked `x-distrusted: true` are left out. Blocks that do not parse are skipped.
 */
export function trustedCertificates(text: string): X509Certificate[] {
  const sections = text.includes("[p11-kit-object-v1]")
    ? text.split("[p11-kit-object-v1]").filter((section) => !/^\s*x-distrusted:\s*true\s*$/m.test(section))
    : [text];
  const certificates: X509Certificate[] = [];
  for (const section of sections) {
    for (const match of section.matchAll(CERTIFICATE_BLOCK)) {
      try {
        certificates.push(new X509Certificate(match[0]));
      } catch {
        // Not a certificate after all; the caller lists what parses.
      }
    }
  }
  return certificates;
}

export interface CertificateInfoFields {
  name: string;
  source: CertificateSource;
  object?: string;
  sha256?: string;
}

/** One trust-store entry as the list command reports it. */
export function certificateInfo(certificate: X509Certificate, fields: CertificateInfoFields): CertificateInfo {
  return create(CertificateInfoSchema, {
    name: fields.name,
    source: fields.source,
    object: fields.object ?? "",
    sha256: fields.sha256 ?? "",
    subject: certificate.subject.split("\n").join(", "),
    fingerprintSha256: certificate.fingerprint256,
    notAfter: rfc3339(certificate.validTo),
  });
}

function rfc3339(opensslDate: string): string {
  const date = new Date(opensslDate);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}
