// Test support: an agent's client certificate for mutual TLS, made with the openssl
// CLI and signed by a test CA: extendedKeyUsage clientAuth, CN and DNS SAN = hostname.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestCa, TestLeaf } from "../../test/fixtures/pki.js";

export function makeClientCertificate(ca: TestCa, hostname: string): TestLeaf {
  const dir = mkdtempSync(join(tmpdir(), "trustplane-client-cert-"));
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  try {
    writeFileSync(join(dir, "ca.crt"), ca.certPem);
    writeFileSync(join(dir, "ca.key"), ca.keyPem, { mode: 0o600 });
    writeFileSync(
      join(dir, "ext.cnf"),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:${hostname}\n`,
    );
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key"]);
    openssl(["pkcs8", "-topk8", "-nocrypt", "-in", "ec.key", "-out", "client.key"]);
    openssl(["req", "-new", "-key", "client.key", "-subj", `/CN=${hostname}`, "-out", "client.csr"]);
    openssl([
      "x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
      "-days", "365", "-extfile", "ext.cnf", "-out", "client.crt",
    ]);
    return { certPem: readFileSync(join(dir, "client.crt"), "utf8"), keyPem: readFileSync(join(dir, "client.key"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
