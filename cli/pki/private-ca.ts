// A small private CA in one directory, made with the openssl command: `ca.crt` and
// `ca.key`, `server.crt`/`server.key` for the control plane and the gateway, and
// `agents/NAME.crt`/`agents/NAME.key` for each agent (CN and DNS SAN = its hostname,
// which the control plane binds the agent's hello to). EC P-256 keys, written 0600;
// certificates 0644.
import { randomBytes, X509Certificate } from "node:crypto";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isValidHostname } from "../../common/names.js";
import { opensslCommand, type Openssl } from "./openssl.js";
import { CERTIFICATE_FILE_MODE, KEY_FILE_MODE, StagedFiles } from "./staged-files.js";

export const DEFAULT_PKI_DIR = ".trustplane/pki";
export const DEFAULT_CA_NAME = "trustplane CA";
export const DEFAULT_CA_DAYS = 3650;
/** The longest validity browsers and most TLS stacks accept for a leaf. */
export const DEFAULT_LEAF_DAYS = 825;
export const MAX_DAYS = 36500;
export const MAX_CA_NAME_LENGTH = 64;

/** Where each file of the CA directory lives. */
export function pkiPaths(dir: string) {
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    agentCert: (hostname: string) => join(dir, "agents", `${hostname}.crt`),
    agentKey: (hostname: string) => join(dir, "agents", `${hostname}.key`),
  };
}

/** A request the CA refuses: an existing CA without `force`, no CA to issue from, a bad name. */
export class PkiRefusal extends Error {
  override readonly name = "PkiRefusal";
}

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  /** "CN=web-1" */
  subject: string;
  /** ["DNS:web-1", "IP Address:127.0.0.1"], as X509Certificate words them. */
  subjectAltNames: string[];
  notAfter: Date;
  /** Files of the same name were there before and are now replaced. */
  replaced: boolean;
}

export interface CaOptions {
  /** The CA's common name; default "trustplane CA". */
  name?: string;
  days?: number;
  /** Replace an existing CA (every certificate it issued stops being trusted with the new ca.crt). */
  force?: boolean;
  openssl?: Openssl;
}

export interface ServerCertificateOptions {
  /** DNS names in the certificate; the first (else the first IP) is its CN. */
  hosts: readonly string[];
  ips?: readonly string[];
  days?: number;
  openssl?: Openssl;
}

export interface AgentCertificateOptions {
  hostname: string;
  days?: number;
  openssl?: Openssl;
}

const KEY_ARGS = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-pkeyopt", "ec_param_enc:named_curve"];

/** The openssl configuration: no system file is read, so no distribution default sneaks in. */
function opensslConfig(leafExtensions: readonly string[]): string {
  return [
    "[req]",
    "distinguished_name = dn",
    "string_mask = utf8only",
    "[dn]",
    "[ca]",
    "basicConstraints = critical,CA:TRUE,pathlen:0",
    "keyUsage = critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier = hash",
    "[leaf]",
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
    ...leafExtensions,
    "",
  ].join("\n");
}

/** `-subj` text for one CN: openssl's separators and escape escaped. */
function subjectArg(commonName: string): string {
  return `/CN=${commonName.replace(/[\\/+]/g, (character) => `\\${character}`)}`;
}

/** A positive 127-bit serial number, as openssl's -set_serial wants it. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return `0x${bytes.toString("hex")}`;
}

function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) throw new PkiRefusal(`days must be a whole number from 1 to ${MAX_DAYS}, got ${days}`);
  return days;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs `work` with a private scratch directory holding the openssl configuration. */
async function withConfig<T>(config: string, work: (configFile: string) => Promise<T>): Promise<T> {
  const scratch = await mkdtemp(join(tmpdir(), "trustplane-pki-"));
  try {
    const configFile = join(scratch, "openssl.cnf");
    await writeFile(configFile, config, { mode: 0o600 });
    return await work(configFile);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function describe(certFile: string, keyFile: string, certPem: Buffer, replaced: boolean): IssuedCertificate {
  const certificate = new X509Certificate(certPem);
  return {
    certFile,
    keyFile,
    subject: certificate.subject.replace(/\n/g, ", "),
    subjectAltNames: certificate.subjectAltName ? certificate.subjectAltName.split(", ") : [],
    notAfter: new Date(certificate.validTo),
    replaced,
  };
}

/** Writes a new CA into `dir` (created 0700 when missing). */
export async function createCa(dir: string, options: CaOptions = {}): Promise<IssuedCertificate> {
  const name = options.name ?? DEFAULT_CA_NAME;
  if (name.trim() === "" || name.length > MAX_CA_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new PkiRefusal(`the CA name must be 1 to ${MAX_CA_NAME_LENGTH} printable characters, got ${JSON.stringify(name)}`);
  }
  const days = checkDays(options.days ?? DEFAULT_CA_DAYS);
  const openssl = options.openssl ?? opensslCommand();
  const paths = pkiPaths(dir);
  const replaced = (await exists(paths.caCert)) || (await exists(paths.caKey));
  if (replaced && !options.force) {
    throw new PkiRefusal(`a CA already exists in ${dir}; replacing it makes every certificate it issued untrusted (use --force to do it anyway)`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const staged = new StagedFiles();
  try {
    const keyPem = await openssl(KEY_ARGS);
    const keyTemp = await staged.write(paths.caKey, keyPem, KEY_FILE_MODE);
    const certPem = await withConfig(opensslConfig([]), (config) =>
      openssl([
        ...["req", "-x509", "-new", "-key", keyTemp, "-utf8", "-subj", subjectArg(name)],
        ...["-days", String(days), "-sha256", "-set_serial", randomSerial(), "-config", config, "-extensions", "ca"],
      ]),
    );
    await staged.write(paths.caCert, certPem, CERTIFICATE_FILE_MODE);
    await staged.commit();
    return describe(paths.caCert, paths.caKey, certPem, replaced);
  } finally {
    await staged.discard();
  }
}

/** Issues a leaf signed by the CA in `dir`: a new key, a CSR, the CA's signature. */
async function issueLeaf(
  dir: string,
  leaf: { certFile: string; keyFile: string; commonName: string; extensions: string[]; days: number; openssl: Openssl },
): Promise<IssuedCertificate> {
  const paths = pkiPaths(dir);
  if (!(await exists(paths.caCert)) || !(await exists(paths.caKey))) {
    throw new PkiRefusal(`no CA in ${dir} (ca.crt and ca.key): run trustplane pki init --dir ${dir} first`);
  }
  const replaced = (await exists(leaf.certFile)) || (await exists(leaf.keyFile));
  const { openssl } = leaf;
  const staged = new StagedFiles();
  try {
    const keyPem = await openssl(KEY_ARGS);
    const keyTemp = await staged.write(leaf.keyFile, keyPem, KEY_FILE_MODE);
    const certPem = await withConfig(opensslConfig(leaf.extensions), async (config) => {
      const request = await openssl(["req", "-new", "-key", keyTemp, "-utf8", "-subj", subjectArg(leaf.commonName), "-config", config]);
      return openssl(
        [
          ...["x509", "-req", "-CA", paths.caCert, "-CAkey", paths.caKey],
          ...["-days", String(leaf.days), "-sha256", "-set_serial", randomSerial(), "-extfile", config, "-extensions", "leaf"],
        ],
        request,
      );
    });
    await staged.write(leaf.certFile, certPem, CERTIFICATE_FILE_MODE);
    await staged.commit();
    return describe(leaf.certFile, leaf.keyFile, certPem, replaced);
  } finally {
    await staged.discard();
  }
}

/** `server.crt`/`server.key`: serverAuth, DNS and IP SANs; for the control plane and the gateway. */
export async function issueServerCertificate(dir: string, options: ServerCertificateOptions): Promise<IssuedCertificate> {
  const ips = options.ips ?? [];
  for (const host of options.hosts) if (!isValidHostname(host)) throw new PkiRefusal(`"${host}" is not a valid host name`);
  for (const ip of ips) if (isIP(ip) === 0) throw new PkiRefusal(`"${ip}" is not an IP address`);
  const commonName = options.hosts[0] ?? ips[0];
  if (commonName === undefined) throw new PkiRefusal("a server certificate needs at least one host name or IP address");
  const sans = [...new Set(options.hosts)].map((host) => `DNS:${host}`).concat([...new Set(ips)].map((ip) => `IP:${ip}`));
  const paths = pkiPaths(dir);
  return issueLeaf(dir, {
    certFile: paths.serverCert,
    keyFile: paths.serverKey,
    commonName,
    extensions: ["extendedKeyUsage = serverAuth", `subjectAltName = ${sans.join(", ")}`],
    days: checkDays(options.days ?? DEFAULT_LEAF_DAYS),
    openssl: options.openssl ?? opensslCommand(),
  });
}

/** `agents/NAME.crt`/`agents/NAME.key`: clientAuth, CN and DNS SAN = the agent's hostname. */
export async function issueAgentCertificate(dir: string, options: AgentCertificateOptions): Promise<IssuedCertificate> {
  const { hostname } = options;
  if (!isValidHostname(hostname)) throw new PkiRefusal(`"${hostname}" is not a valid host name`);
  const days = checkDays(options.days ?? DEFAULT_LEAF_DAYS);
  const paths = pkiPaths(dir);
  if (await exists(paths.caKey)) await mkdir(join(dir, "agents"), { recursive: true, mode: 0o700 });
  return issueLeaf(dir, {
    certFile: paths.agentCert(hostname),
    keyFile: paths.agentKey(hostname),
    commonName: hostname,
    extensions: ["extendedKeyUsage = clientAuth", `subjectAltName = DNS:${hostname}`],
    days,
    openssl: options.openssl ?? opensslCommand(),
  });
}
