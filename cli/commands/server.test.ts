// `trustplane server` flags → the control plane's options (nothing is started).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type TestPki } from "../testing/test-pki.js";
import { UsageError } from "../usage-error.js";
import { serverSettings } from "./server.js";

let pki: TestPki;

beforeAll(async () => {
  pki = await createTestPki();
  await writeFile(join(pki.dir, "garbage.pem"), "not a certificate\n");
});
afterAll(() => pki.cleanup());

const DAY_MS = 24 * 60 * 60 * 1000;

describe("trustplane server flags", () => {
  it("defaults: SQLite job store and audit log in the data dir, 30-day retention, 7-day stale age, no metrics, no TLS", async () => {
    const settings = await serverSettings(["--data-dir", "/var/lib/tp"], {});
    expect(settings).toEqual({
      options: {
        grpcAddress: "127.0.0.1:7443",
        apiKeysFile: "/var/lib/tp/api-keys.json",
        joinTokenFile: "/var/lib/tp/join-token",
        objectStore: "file:/var/lib/tp/objects",
        s3: { endpoint: undefined, accessKey: undefined, secretKey: undefined, region: undefined },
        jobStore: "sqlite:/var/lib/tp/jobs.sqlite",
        jobRetentionMs: 30 * DAY_MS,
        staleAgentMs: 7 * DAY_MS,
        metricsAddress: undefined,
        auditFile: "/var/lib/tp/audit.log",
        tls: undefined,
        cluster: undefined,
      },
      graceMs: 30_000,
    });
  });

  it("takes --job-store, the day counts, --metrics and --audit-log", async () => {
    const settings = (await serverSettings(
      [
        ...["--job-store", "postgres://tp:pw@db.internal/tp", "--job-retention-days", "90", "--stale-agent-days", "0.5"],
        ...["--metrics", "127.0.0.1:9464", "--audit-log", "/var/log/trustplane-audit.jsonl"],
      ],
      {},
    ))!;
    expect(settings.options.jobStore).toBe("postgres://tp:pw@db.internal/tp");
    expect(settings.options.jobRetentionMs).toBe(90 * DAY_MS);
    expect(settings.options.staleAgentMs).toBe(DAY_MS / 2);
    expect(settings.options.metricsAddress).toBe("127.0.0.1:9464");
    expect(settings.options.auditFile).toBe("/var/log/trustplane-audit.jsonl");
  });

  it("--cluster and --replica-id: a replica on NATS with the PostgreSQL job store, usage errors otherwise", async () => {
    const pg = ["--job-store", "postgres://tp@db.internal/tp"];
    const replica = (await serverSettings([...pg, "--cluster", "nats://10.0.0.2:4222,nats://10.0.0.3:4222", "--replica-id", "cp-1"], {}))!;
    expect(replica.options.cluster).toEqual({ natsUrls: ["nats://10.0.0.2:4222", "nats://10.0.0.3:4222"], replicaId: "cp-1" });
    expect((await serverSettings([...pg, "--cluster", "nats://10.0.0.2:4222"], {}))!.options.cluster).toEqual({ natsUrls: ["nats://10.0.0.2:4222"] });
    await expect(serverSettings(["--cluster", "nats://10.0.0.2:4222"], {})).rejects.toThrow(
      new UsageError("trustplane server: --cluster needs the shared PostgreSQL job store: --job-store postgres://..."),
    );
    await expect(serverSettings([...pg, "--cluster", "10.0.0.2:4222"], {})).rejects.toThrow(
      new UsageError('trustplane server: --cluster takes nats://HOST:PORT[,...], got "10.0.0.2:4222"'),
    );
    await expect(serverSettings(["--replica-id", "cp-1"], {})).rejects.toThrow(new UsageError("trustplane server: --replica-id needs --cluster"));
    await expect(serverSettings([...pg, "--cluster", "nats://h:4222", "--replica-id", "cp 1"], {})).rejects.toThrow(UsageError);
  });

  it("reads the job store from TRUSTPLANE_JOB_STORE, the flag winning", async () => {
    expect((await serverSettings([], { TRUSTPLANE_JOB_STORE: "postgresql://h/db" }))!.options.jobStore).toBe("postgresql://h/db");
    expect((await serverSettings(["--job-store", "memory:"], {}))!.options.jobStore).toBe("memory:");
    expect((await serverSettings(["--job-store", "sqlite:/tmp/j.db"], { TRUSTPLANE_JOB_STORE: "postgresql://h/db" }))!.options.jobStore).toBe(
      "sqlite:/tmp/j.db",
    );
  });

  it("--tls-cert and --tls-key: TLS; with --client-ca: mutual TLS", async () => {
    const tlsOnly = (await serverSettings(["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey], {}))!;
    expect(tlsOnly.options.tls).toEqual({ certPem: await readFile(pki.serverCert), keyPem: await readFile(pki.serverKey) });
    const mutual = (await serverSettings(["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--client-ca", pki.caCert], {}))!;
    expect(mutual.options.tls).toEqual({
      certPem: await readFile(pki.serverCert),
      keyPem: await readFile(pki.serverKey),
      clientCaPem: await readFile(pki.caCert),
    });
  });

  it.each([
    [["--tls-cert", "SERVER_CERT"], "trustplane server: --tls-cert needs --tls-key"],
    [["--tls-key", "SERVER_KEY"], "trustplane server: --tls-key needs --tls-cert"],
    [["--client-ca", "CA_CERT"], "trustplane server: --client-ca needs --tls-cert and --tls-key"],
    [["--tls-cert", "DIR/missing.crt", "--tls-key", "SERVER_KEY"], "trustplane server: cannot read --tls-cert DIR/missing.crt: ENOENT"],
    [["--tls-cert", "DIR/garbage.pem", "--tls-key", "SERVER_KEY"], "trustplane server: --tls-cert DIR/garbage.pem is not a PEM certificate"],
    [["--tls-cert", "SERVER_KEY", "--tls-key", "SERVER_KEY"], "trustplane server: --tls-cert SERVER_KEY is not a PEM certificate"],
    [["--tls-cert", "SERVER_CERT", "--tls-key", "SERVER_CERT"], "trustplane server: --tls-key SERVER_CERT is not a PEM private key"],
    [["--tls-cert", "SERVER_CERT", "--tls-key", "AGENT_KEY"], "trustplane server: --tls-key AGENT_KEY is not the key of --tls-cert SERVER_CERT"],
    [
      ["--tls-cert", "SERVER_CERT", "--tls-key", "SERVER_KEY", "--client-ca", "DIR"],
      "trustplane server: cannot read --client-ca DIR: EISDIR",
    ],
  ])("%j is a usage error naming the flag and the file", async (argv, message) => {
    const paths: Record<string, string> = {
      SERVER_CERT: pki.serverCert,
      SERVER_KEY: pki.serverKey,
      AGENT_KEY: pki.agentKey,
      CA_CERT: pki.caCert,
      DIR: pki.dir,
    };
    const expand = (text: string) => text.replace(/\b(SERVER_CERT|SERVER_KEY|AGENT_KEY|CA_CERT|DIR)\b/g, (name) => paths[name]!);
    await expect(serverSettings(argv.map(expand), {})).rejects.toThrow(new UsageError(expand(message)));
  });

  it.each([
    [["--job-store", "mysql://u:secret@h/db"], 'trustplane server: --job-store must be sqlite:FILE, postgres://... or memory:, got "mysql://u:***@h/db"'],
    [["--job-store", "sqlite:"], 'trustplane server: --job-store must be sqlite:FILE, postgres://... or memory:, got "sqlite:"'],
    [["--job-retention-days", "0"], 'trustplane server: --job-retention-days must be a positive number of days, got "0"'],
    [["--job-retention-days", "ten"], 'trustplane server: --job-retention-days must be a positive number of days, got "ten"'],
    [["--stale-agent-days", "1e3"], 'trustplane server: --stale-agent-days must be a positive number of days, got "1e3"'],
    [["--metrics", "9464"], 'trustplane server: --metrics must be HOST:PORT, got "9464"'],
  ])("%j is a usage error", async (argv, message) => {
    await expect(serverSettings(argv, {})).rejects.toThrow(new UsageError(message));
  });
});
