// A throw-away private CA for tests of the TLS flags: made once per test file with
// the real pki code (openssl) in a temp directory, removed by cleanup().
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCa, issueAgentCertificate, issueServerCertificate, pkiPaths } from "../pki/private-ca.js";

export interface TestPki {
  dir: string;
  caCert: string;
  caKey: string;
  /** For 127.0.0.1 and localhost. */
  serverCert: string;
  serverKey: string;
  /** Agent "web-1". */
  agentCert: string;
  agentKey: string;
  cleanup(): Promise<void>;
}

export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "trustplane-test-pki-"));
  await createCa(dir, { name: "trustplane test CA", days: 2 });
  await issueServerCertificate(dir, { hosts: ["localhost"], ips: ["127.0.0.1"], days: 2 });
  await issueAgentCertificate(dir, { hostname: "web-1", days: 2 });
  const paths = pkiPaths(dir);
  return {
    dir,
    caCert: paths.caCert,
    caKey: paths.caKey,
    serverCert: paths.serverCert,
    serverKey: paths.serverKey,
    agentCert: paths.agentCert("web-1"),
    agentKey: paths.agentKey("web-1"),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
