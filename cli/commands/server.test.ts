// `trustplane server` flags → the control plane's options (nothing is started).
import { describe, expect, it } from "vitest";
import { serverSettings } from "./server.js";

const DAY_MS = 24 * 60 * 60 * 1000;

describe("trustplane server flags", () => {
  it("defaults: SQLite job store in the data dir, 30-day retention, 7-day stale age, no metrics", () => {
    const settings = serverSettings(["--data-dir", "/var/lib/tp"], {});
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
      },
      graceMs: 30_000,
    });
  });

  it("takes --job-store, the day counts and --metrics", () => {
    const settings = serverSettings(
      ["--job-store", "postgres://tp:pw@db.internal/tp", "--job-retention-days", "90", "--stale-agent-days", "0.5", "--metrics", "127.0.0.1:9464"],
      {},
    )!;
    expect(settings.options.jobStore).toBe("postgres://tp:pw@db.internal/tp");
    expect(settings.options.jobRetentionMs).toBe(90 * DAY_MS);
    expect(settings.options.staleAgentMs).toBe(DAY_MS / 2);
    expect(settings.options.metricsAddress).toBe("127.0.0.1:9464");
  });

  it("reads the job store from TRUSTPLANE_JOB_STORE, the flag winning", () => {
    expect(serverSettings([], { TRUSTPLANE_JOB_STORE: "postgresql://h/db" })!.options.jobStore).toBe("postgresql://h/db");
    expect(serverSettings(["--job-store", "memory:"], {})!.options.jobStore).toBe("memory:");
    expect(serverSettings(["--job-store", "sqlite:/tmp/j.db"], { TRUSTPLANE_JOB_STORE: "postgresql://h/db" })!.options.jobStore).toBe(
      "sqlite:/tmp/j.db",
    );
  });

  it.each([
    [["--job-store", "mysql://u:secret@h/db"], 'trustplane server: --job-store must be sqlite:FILE, postgres://... or memory:, got "mysql://u:***@h/db"'],
    [["--job-store", "sqlite:"], 'trustplane server: --job-store must be sqlite:FILE, postgres://... or memory:, got "sqlite:"'],
    [["--job-retention-days", "0"], 'trustplane server: --job-retention-days must be a positive number of days, got "0"'],
    [["--job-retention-days", "ten"], 'trustplane server: --job-retention-days must be a positive number of days, got "ten"'],
    [["--stale-agent-days", "1e3"], 'trustplane server: --stale-agent-days must be a positive number of days, got "1e3"'],
    [["--metrics", "9464"], 'trustplane server: --metrics must be HOST:PORT, got "9464"'],
  ])("%j is a usage error", (argv, message) => {
    expect(() => serverSettings(argv, {})).toThrow(message);
  });
});
