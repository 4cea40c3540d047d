// The private CA against the real openssl command: files and their modes (whatever
// the umask), what openssl itself reads in the certificates, refusals, and a TLS
// handshake in both directions with the issued pair.
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OpensslError, opensslCommand } from "./openssl.js";
import { createCa, issueAgentCertificate, issueServerCertificate, PkiRefusal } from "./private-ca.js";

let dir: string;

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), "trustplane-pki-")), "pki");
});
afterEach(async () => {
  await rm(join(dir, ".."), { recursive: true, force: true });
});

function openssl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("openssl", args, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** The lines of `openssl x509 -text` under an extension's heading. */
async function extension(certFile: string, heading: string): Promise<string> {
  const { stdout } = await openssl(["x509", "-in", certFile, "-noout", "-text"]);
  const lines = stdout.split("\n");
  const at = lines.findIndex((line) => line.trim().startsWith(heading));
  expect(at, `${heading} in ${certFile}`).toBeGreaterThan(-1);
  return `${lines[at]!.trim()} ${lines[at + 1]!.trim()}`;
}

async function withUmask<T>(mask: number, work: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask);
  try {
    return await work();
  } finally {
    process.umask(previous);
  }
}

describe("the openssl command", () => {
  it("missing: a one-line error saying so", async () => {
    await expect(createCa(dir, { openssl: opensslCommand("/nonexistent/openssl") })).rejects.toThrow(
      new OpensslError("cannot run /nonexistent/openssl: not found on PATH (install OpenSSL)"),
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it("failing: its stderr in the error", async () => {
    await expect(opensslCommand()(["x509", "-noout"], "not a certificate")).rejects.toThrow(/^openssl x509 failed: .*(Could not read|unable to load|Unable to load)/);
  });
});

describe("pki init", () => {
  it("writes ca.crt 0644 and ca.key 0600 (even under umask 077 and 000): a self-signed P-256 CA", async () => {
    const issued = await withUmask(0o077, () => createCa(dir, { name: "Acme / R+D \\ CA", days: 10 }));
    expect(issued).toMatchObject({ certFile: join(dir, "ca.crt"), keyFile: join(dir, "ca.key"), subject: "CN=Acme / R\\+D \\\\ CA", replaced: false });
    expect([await mode(join(dir, "ca.crt")), await mode(join(dir, "ca.key")), await mode(dir)]).toEqual([0o644, 0o600, 0o700]);
    expect((await readdir(dir)).sort()).toEqual(["ca.crt", "ca.key"]);

    const certificate = new X509Certificate(await readFile(join(dir, "ca.crt")));
    const { stdout: subject } = await openssl(["x509", "-in", join(dir, "ca.crt"), "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus_space"]);
    expect(subject).toBe("subject=CN=Acme / R+D \\ CA\n");
    expect(certificate.ca).toBe(true);
    expect(certificate.checkIssued(certificate)).toBe(true);
    expect(certificate.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: "prime256v1" });
    const days = (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 86_400_000;
    expect(days).toBe(10);
    expect(await extension(join(dir, "ca.crt"), "X509v3 Basic Constraints")).toBe("X509v3 Basic Constraints: critical CA:TRUE, pathlen:0");
    expect(await extension(join(dir, "ca.crt"), "X509v3 Key Usage")).toBe("X509v3 Key Usage: critical Certificate Sign, CRL Sign");

    await rm(dir, { recursive: true });
    await withUmask(0o000, () => createCa(dir));
    expect([await mode(join(dir, "ca.crt")), await mode(join(dir, "ca.key"))]).toEqual([0o644, 0o600]);
  });

  it("refuses to replace a CA without force, and replaces it with force", async () => {
    await createCa(dir);
    const before = await readFile(join(dir, "ca.key"));
    await expect(createCa(dir)).rejects.toThrow(
      new PkiRefusal(`a CA already exists in ${dir}; replacing it makes every certificate it issued untrusted (use --force to do it anyway)`),
    );
    expect(await readFile(join(dir, "ca.key"))).toEqual(before);
    const replaced = await createCa(dir, { force: true });
    expect(replaced.replaced).toBe(true);
    expect(await readFile(join(dir, "ca.key"))).not.toEqual(before);
    expect((await readdir(dir)).sort()).toEqual(["ca.crt", "ca.key"]);
  });

  it.each([
    [{ name: "" }, 'the CA name must be 1 to 64 printable characters, got ""'],
    [{ name: "a\nb" }, 'the CA name must be 1 to 64 printable characters, got "a\\nb"'],
    [{ name: "x".repeat(65) }, `the CA name must be 1 to 64 printable characters, got "${"x".repeat(65)}"`],
    [{ days: 0 }, "days must be a whole number from 1 to 36500, got 0"],
  ])("refuses %j", async (options, message) => {
    await expect(createCa(dir, options)).rejects.toThrow(new PkiRefusal(message));
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });
});

describe("pki issue-server and issue-agent", () => {
  beforeEach(async () => {
    await createCa(dir);
  });

  it("server.crt: serverAuth with the DNS and IP names, verified by openssl against ca.crt", async () => {
    const issued = await withUmask(0o077, () =>
      issueServerCertificate(dir, { hosts: ["cp.example.internal", "localhost"], ips: ["127.0.0.1", "::1"], days: 30 }),
    );
    expect(issued).toMatchObject({
      certFile: join(dir, "server.crt"),
      keyFile: join(dir, "server.key"),
      subject: "CN=cp.example.internal",
      subjectAltNames: ["DNS:cp.example.internal", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"],
      replaced: false,
    });
    expect([await mode(issued.certFile), await mode(issued.keyFile)]).toEqual([0o644, 0o600]);
    expect(await openssl(["verify", "-CAfile", join(dir, "ca.crt"), "-purpose", "sslserver", issued.certFile])).toMatchObject({
      code: 0,
      stdout: `${issued.certFile}: OK\n`,
    });
    expect(await extension(issued.certFile, "X509v3 Subject Alternative Name")).toBe(
      "X509v3 Subject Alternative Name: DNS:cp.example.internal, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
    );
    expect(await extension(issued.certFile, "X509v3 Extended Key Usage")).toBe("X509v3 Extended Key Usage: TLS Web Server Authentication");
    expect(await extension(issued.certFile, "X509v3 Basic Constraints")).toBe("X509v3 Basic Constraints: critical CA:FALSE");
    expect((await openssl(["verify", "-CAfile", join(dir, "ca.crt"), "-purpose", "sslclient", issued.certFile])).code).not.toBe(0);
    expect((await readdir(dir)).sort()).toEqual(["ca.crt", "ca.key", "server.crt", "server.key"]);
  });

  it("agents/NAME.crt: clientAuth, CN and DNS name = the hostname; issuing again replaces it", async () => {
    const issued = await issueAgentCertificate(dir, { hostname: "web-1.dc1" });
    expect(issued).toMatchObject({
      certFile: join(dir, "agents", "web-1.dc1.crt"),
      keyFile: join(dir, "agents", "web-1.dc1.key"),
      subject: "CN=web-1.dc1",
      subjectAltNames: ["DNS:web-1.dc1"],
      replaced: false,
    });
    expect([await mode(issued.certFile), await mode(issued.keyFile), await mode(join(dir, "agents"))]).toEqual([0o644, 0o600, 0o700]);
    expect(await openssl(["verify", "-CAfile", join(dir, "ca.crt"), "-purpose", "sslclient", issued.certFile])).toMatchObject({
      code: 0,
      stdout: `${issued.certFile}: OK\n`,
    });
    expect(await extension(issued.certFile, "X509v3 Extended Key Usage")).toBe("X509v3 Extended Key Usage: TLS Web Client Authentication");
    expect(await extension(issued.certFile, "X509v3 Subject Alternative Name")).toBe("X509v3 Subject Alternative Name: DNS:web-1.dc1");
    const { stdout } = await openssl(["x509", "-in", issued.certFile, "-noout", "-subject", "-issuer"]);
    expect(stdout).toBe("subject=CN = web-1.dc1\nissuer=CN = trustplane CA\n");

    const firstKey = await readFile(issued.keyFile);
    expect((await issueAgentCertificate(dir, { hostname: "web-1.dc1" })).replaced).toBe(true);
    expect(await readFile(issued.keyFile)).not.toEqual(firstKey);
    expect((await readdir(join(dir, "agents"))).sort()).toEqual(["web-1.dc1.crt", "web-1.dc1.key"]);
  });

  it.each([
    ["web_1"],
    ["-web"],
    ["web..1"],
    ["../evil"],
    ["a/b"],
    [""],
    ["x".repeat(64)],
  ])("refuses the agent hostname %j and writes nothing", async (hostname) => {
    await expect(issueAgentCertificate(dir, { hostname })).rejects.toThrow(new PkiRefusal(`"${hostname}" is not a valid host name`));
    expect((await readdir(dir)).sort()).toEqual(["ca.crt", "ca.key"]);
  });

  it.each([
    [{ hosts: ["bad_host"] }, '"bad_host" is not a valid host name'],
    [{ hosts: ["*.example.com"] }, '"*.example.com" is not a valid host name'],
    [{ hosts: [], ips: ["300.1.1.1"] }, '"300.1.1.1" is not an IP address'],
    [{ hosts: [] }, "a server certificate needs at least one host name or IP address"],
  ])("refuses the server names %j", async (options, message) => {
    await expect(issueServerCertificate(dir, options)).rejects.toThrow(new PkiRefusal(message));
    expect((await readdir(dir)).sort()).toEqual(["ca.crt", "ca.key"]);
  });

  it("without a CA: refuses, naming pki init", async () => {
    const empty = join(dir, "..", "empty");
    await expect(issueAgentCertificate(empty, { hostname: "web-1" })).rejects.toThrow(
      new PkiRefusal(`no CA in ${empty} (ca.crt and ca.key): run trustplane pki init --dir ${empty} first`),
    );
    await expect(stat(empty)).rejects.toThrow(/ENOENT/);
  });

  it("a failing openssl leaves no file behind", async () => {
    let calls = 0;
    const failing = async (args: readonly string[]) => {
      if (++calls === 3) throw new Error(`openssl ${args[0]} failed: boom`);
      return (await import("./openssl.js")).opensslCommand()(args);
    };
    await expect(issueAgentCertificate(dir, { hostname: "web-1", openssl: failing })).rejects.toThrow("openssl x509 failed: boom");
    expect(await readdir(join(dir, "agents"))).toEqual([]);
  });

  it("the issued pair does mutual TLS in Node: the agent's name reaches the server, the server's name is checked", async () => {
    const server = await issueServerCertificate(dir, { hosts: ["localhost"], ips: ["127.0.0.1"] });
    const agent = await issueAgentCertificate(dir, { hostname: "web-1" });
    const ca = await readFile(join(dir, "ca.crt"));
    const listener = tls.createServer({
      cert: await readFile(server.certFile),
      key: await readFile(server.keyFile),
      ca,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const peers: string[] = [];
    const firstPeer = new Promise<void>((resolve) =>
      listener.on("secureConnection", (socket) => {
        peers.push(String(socket.getPeerCertificate().subject.CN));
        socket.end();
        resolve();
      }),
    );
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", () => resolve()));
    const { port } = listener.address() as AddressInfo;
    try {
      const client = tls.connect({ host: "127.0.0.1", port, ca, cert: await readFile(agent.certFile), key: await readFile(agent.keyFile) });
      await new Promise<void>((resolve, reject) => client.once("secureConnect", resolve).once("error", reject));
      expect(client.authorized).toBe(true);
      await firstPeer;
      client.destroy();
      // The server's certificate used as a client's is refused (serverAuth only).
      const wrong = tls.connect({ host: "127.0.0.1", port, ca, cert: await readFile(server.certFile), key: await readFile(server.keyFile) });
      // The server closes it during the handshake; had it accepted, its CN would be in peers.
      await new Promise<void>((resolve) => wrong.once("close", () => resolve()).on("error", () => {}));
      expect(peers).toEqual(["web-1"]);
      // A name the certificate does not carry is refused by the client.
      const misnamed = tls.connect({ host: "127.0.0.1", port, ca, servername: "cp.other", cert: await readFile(agent.certFile), key: await readFile(agent.keyFile) });
      const misnamedError = await new Promise<NodeJS.ErrnoException>((resolve) => misnamed.once("error", resolve));
      misnamed.destroy();
      expect(misnamedError.code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });
});
