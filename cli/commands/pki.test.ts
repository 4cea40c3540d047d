// `trustplane pki init|issue-server|issue-agent`: what each prints, and the refusals
// that are usage errors. (The certificates themselves: pki/private-ca.test.ts.)
import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CapturedIo } from "../testing/captured-io.js";
import { UsageError } from "../usage-error.js";
import { pkiCommand } from "./pki.js";

let root: string;
let dir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "trustplane-cli-pki-"));
  dir = join(root, "pki");
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function until(file: string): Promise<string> {
  return new Date(new X509Certificate(await readFile(file)).validTo).toISOString().slice(0, 10);
}

async function run(argv: string[]): Promise<string> {
  const io = new CapturedIo({});
  expect(await pkiCommand(argv, io)).toBe(0);
  expect(io.stderr.text).toBe("");
  return io.stdout.text;
}

describe("trustplane pki", () => {
  it("init, issue-server, issue-agent: the files and the flags that use them", async () => {
    const init = await run(["init", "--dir", dir, "--name", "Acme fleet CA"]);
    expect(init).toBe(
      [
        `Created a CA in ${dir} (CN=Acme fleet CA, valid until ${await until(join(dir, "ca.crt"))}):`,
        `  ${dir}/ca.crt  certificate, mode 0644`,
        `  ${dir}/ca.key  private key, mode 0600: keep it off the nodes; whoever holds it can issue certificates`,
        ``,
        `Next, issue the certificates:`,
        `  trustplane pki issue-server --dir ${dir} --host HOSTNAME --ip 127.0.0.1`,
        `  trustplane pki issue-agent --dir ${dir} --hostname NODE`,
        ``,
      ].join("\n"),
    );

    const server = await run(["issue-server", "--dir", dir, "--host", "cp.internal", "--ip", "10.0.0.5", "--days", "90"]);
    expect(server).toBe(
      [
        `Issued the server certificate (CN=cp.internal; DNS:cp.internal, IP Address:10.0.0.5; valid until ${await until(join(dir, "server.crt"))}):`,
        `  ${dir}/server.crt  certificate, mode 0644`,
        `  ${dir}/server.key  private key, mode 0600: only for the control plane and the gateway`,
        ``,
        `Use it (the control plane with --client-ca requires agents to present a certificate of this CA):`,
        `  trustplane server --tls-cert ${dir}/server.crt --tls-key ${dir}/server.key --client-ca ${dir}/ca.crt`,
        `  trustplane gateway --tls-cert ${dir}/server.crt --tls-key ${dir}/server.key --server cp.internal:7443 --server-ca ${dir}/ca.crt`,
        `  trustplane agent --server cp.internal:7443 --ca ${dir}/ca.crt --tls-cert ... --tls-key ...   (see trustplane pki issue-agent)`,
        `  TRUSTPLANE_URL=https://cp.internal:8080 TRUSTPLANE_CA=${dir}/ca.crt trustplane agent list`,
        ``,
      ].join("\n"),
    );
    const days = (Date.parse(new X509Certificate(await readFile(join(dir, "server.crt"))).validTo) - Date.now()) / 86_400_000;
    expect(Math.round(days)).toBe(90);

    const agent = await run(["issue-agent", "--dir", dir, "--hostname", "web-1"]);
    expect(agent).toBe(
      [
        `Issued the certificate of agent web-1 (CN=web-1; DNS:web-1; valid until ${await until(join(dir, "agents", "web-1.crt"))}):`,
        `  ${dir}/agents/web-1.crt  certificate, mode 0644`,
        `  ${dir}/agents/web-1.key  private key, mode 0600: copy it to web-1 only`,
        ``,
        `On web-1, with the three files copied there:`,
        `  trustplane agent --hostname web-1 --server HOST:7443 --tls-cert ${dir}/agents/web-1.crt --tls-key ${dir}/agents/web-1.key --ca ${dir}/ca.crt`,
        ``,
      ].join("\n"),
    );
    expect(await run(["issue-agent", "--dir", dir, "--hostname", "web-1"])).toMatch(/^Replaced the certificate of agent web-1 /);

    const again = await run(["init", "--dir", dir, "--force"]);
    expect(again).toMatch(new RegExp(`^Replaced the CA in ${dir} \\(CN=trustplane CA, valid until `));
    expect(again).toContain("Certificates issued by the old CA are not trusted by anything that loads the new ca.crt: issue them again.");
  });

  it.each([
    [["init", "--days", "0"], 'trustplane pki init: --days must be a whole number from 1 to 36500, got "0"'],
    [["init", "--days", "36501"], 'trustplane pki init: --days must be a whole number from 1 to 36500, got "36501"'],
    [["issue-server"], "trustplane pki issue-server: give at least one --host NAME or --ip ADDRESS (see --help)"],
    [["issue-agent"], "trustplane pki issue-agent: --hostname is required (see --help)"],
    [["issue-agent", "--hostname", "web_1"], 'trustplane pki issue-agent: "web_1" is not a valid host name'],
    [["issue-agent", "--hostname", "../../etc/x"], 'trustplane pki issue-agent: "../../etc/x" is not a valid host name'],
    [["issue-server", "--host", "a", "--ip", "localhost"], 'trustplane pki issue-server: "localhost" is not an IP address'],
    [["issue-agent", "--hostname", "web-1"], "trustplane pki issue-agent: no CA in DIR (ca.crt and ca.key): run trustplane pki init --dir DIR first"],
    [["renew"], 'trustplane pki: expected one of "init", "issue-server", "issue-agent", got "renew" (see --help)'],
  ])("%j is a usage error and writes nothing", async (argv, message) => {
    const expand = (text: string) => text.replace(/\bDIR\b/g, dir);
    await expect(pkiCommand([...argv, ...(argv[0] === "renew" ? [] : ["--dir", dir])], new CapturedIo({}))).rejects.toThrow(
      new UsageError(expand(message)),
    );
    expect(await readdir(root)).toEqual([]);
  });

  it("refuses to replace a CA without --force", async () => {
    await run(["init", "--dir", dir]);
    const key = await readFile(join(dir, "ca.key"));
    await expect(pkiCommand(["init", "--dir", dir], new CapturedIo({}))).rejects.toThrow(
      new UsageError(
        `trustplane pki init: a CA already exists in ${dir}; replacing it makes every certificate it issued untrusted (use --force to do it anyway)`,
      ),
    );
    expect(await readFile(join(dir, "ca.key"))).toEqual(key);
  });

  it("--help lists the actions and each action's flags", async () => {
    expect(await run(["--help"])).toContain("issue-agent   issue an agent's client certificate (agents/NAME.crt, agents/NAME.key)");
    const help = await run(["issue-server", "--help"]);
    expect(help).toContain("--host NAME");
    expect(help).toContain("--ip ADDRESS");
  });
});
