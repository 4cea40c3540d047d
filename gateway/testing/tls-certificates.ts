// Certificates for the gateway's TLS tests, made with the real openssl CLI: a
// server leaf whose subjectAltName names 127.0.0.1 (IP) and localhost, so clients
// can verify the loopback address they dial, and a client leaf for mutual TLS.
// The CA comes from test/fixtures/pki.ts (makeCa).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestCa } from "../../test/fixtures/pki.js";

export interface TlsCredentials {
  certPem: Buffer;
  keyPem: Buffer;
}

export interface LeafOptions {
  commonName: string;
  /** subjectAltName entries such as "IP:127.0.0.1" or "DNS:localhost". */
  altNames: readonly string[];
  usage: "serverAuth" | "clientAuth";
}

/** A leaf signed by `ca` (EC P-256, valid a day). */
export function issueLeaf(ca: TestCa, options: LeafOptions): TlsCredentials {
  const dir = mkdtempSync(join(tmpdir(), "trustplane-gateway-tls-"));
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  try {
    writeFileSync(join(dir, "ca.crt"), ca.certPem);
    writeFileSync(join(dir, "ca.key"), ca.keyPem);
    const altNames = options.altNames.length > 0 ? `subjectAltName=${options.altNames.join(",")}\n` : "";
    writeFileSync(
      join(dir, "ext.cnf"),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${options.usage}\n${altNames}`,
    );
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key"]);
    openssl(["pkcs8", "-topk8", "-nocrypt", "-in", "ec.key", "-out", "leaf.key"]);
    openssl(["req", "-new", "-key", "leaf.key", "-subj", `/CN=${options.commonName}`, "-out", "leaf.csr"]);
    openssl([
      "x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
      "-days", "1", "-extfile", "ext.cnf", "-out", "leaf.crt",
    ]);
    return { certPem: readFileSync(join(dir, "leaf.crt")), keyPem: readFileSync(join(dir, "leaf.key")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A server certificate for 127.0.0.1 and localhost. */
export function loopbackServerCertificate(ca: TestCa): TlsCredentials {
  return issueLeaf(ca, { commonName: "localhost", altNames: ["IP:127.0.0.1", "DNS:localhost"], usage: "serverAuth" });
}

/** A client certificate for mutual TLS. */
export function clientCertificate(ca: TestCa, commonName = "trustplane-gateway"): TlsCredentials {
  return issueLeaf(ca, { commonName, altNames: [`DNS:${commonName}`], usage: "clientAuth" });
}
