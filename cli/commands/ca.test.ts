// `trustplane ca ...` against a fake gateway: the requests sent, the table, the
// JSON document, the progress line on a terminal, and the exit codes.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CertificateSource, ResultStatus } from "../../gen/trustplane/v1/common_pb.js";
import { CapturedIo } from "../testing/captured-io.js";
import { FakeGateway } from "../testing/fake-gateway.js";
import { caCommand } from "./ca.js";

const JOB_ID = "3c5d8f0e-1111-4a4a-9b9b-222233334444";
const KEY = "tp_test_key";

let gateway: FakeGateway;
let env: Record<string, string>;

beforeAll(async () => {
  gateway = await FakeGateway.start();
  env = { TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: KEY };
});
afterAll(() => gateway.close());
beforeEach(() => {
  gateway.calls.length = 0;
  gateway.scripts.clear();
});

const started = (hostnames: string[], extra: Record<string, unknown> = {}) => ({
  event: { event: { case: "started", value: { jobId: JOB_ID, hostnames, ...extra } } },
});
const result = (hostname: string, status: ResultStatus, extra: Record<string, unknown> = {}) => ({
  event: { event: { case: "result", value: { hostname, status, ...extra } } },
});
const summary = (ok: number, failed: number, skipped: number) => ({
  event: { event: { case: "summary", value: { jobId: JOB_ID, ok, failed, skipped } } },
});

function scriptInstall(events: unknown[]): void {
  gateway.on("installCA", async function* () {
    yield* events;
  });
}

const MIXED = [
  started(["web-2", "web-1", "web-3"]),
  result("web-2", ResultStatus.OK, { name: "corp-root", changed: true }),
  result("web-3", ResultStatus.FAILED, { name: "corp-root", error: "update-ca-certificates failed:\nexit 1" }),
  result("web-1", ResultStatus.SKIPPED, { name: "corp-root", error: "no supported trust store" }),
  summary(1, 1, 1),
];

describe("trustplane ca install", () => {
  it("sends the request with the key as a bearer token and prints a table, exit 0 when all are ok", async () => {
    scriptInstall([
      started(["web-1", "web-2"]),
      result("web-2", ResultStatus.OK, { name: "corp-root", changed: true }),
      result("web-1", ResultStatus.OK, { name: "corp-root", changed: false }),
      summary(2, 0, 0),
    ]);
    const io = new CapturedIo(env);
    const code = await caCommand(
      ["install", "--target", "env:prod", "--name", "corp-root", "--object", "corp.pem", "--timeout", "12", "--max-concurrency", "50%", "--max-errors", "0"],
      io,
    );
    expect(code).toBe(0);
    expect(gateway.calls).toHaveLength(1);
    expect(gateway.calls[0]!.authorization).toBe(`Bearer ${KEY}`);
    expect(gateway.calls[0]!.method).toBe("installCA");
    const request = gateway.calls[0]!.request as any;
    expect([request.target, request.name, request.object]).toEqual(["env:prod", "corp-root", "corp.pem"]);
    expect(request.options.timeoutSeconds).toBe(12);
    expect(request.options.dryRun).toBe(false);
    expect(request.options.maxConcurrency.limit).toEqual({ case: "percent", value: 50 });
    expect(request.options.maxErrors.limit).toEqual({ case: "count", value: 0 });
    expect(io.stdout.text).toBe(
      [
        "HOSTNAME  STATUS  CHANGED  ERROR",
        "web-1     ok      no",
        "web-2     ok      yes",
        "",
        `job ${JOB_ID}: 2 ok, 0 failed, 0 skipped`,
        "",
      ].join("\n"),
    );
    expect(io.stderr.text).toBe("");
  });

  it("leaves the limits unset when not given", async () => {
    scriptInstall([started(["web-1"]), result("web-1", ResultStatus.OK, { name: "n" }), summary(1, 0, 0)]);
    await caCommand(["install", "--target", "web-1", "--name", "n", "--object", "o"], new CapturedIo(env));
    const options = (gateway.calls[0]!.request as any).options;
    expect(options.maxConcurrency).toBeUndefined();
    expect(options.maxErrors).toBeUndefined();
    expect(options.timeoutSeconds).toBe(0);
  });

  it("exits 1 when a host failed, with the error on one line", async () => {
    scriptInstall(MIXED);
    const io = new CapturedIo(env);
    expect(await caCommand(["install", "--target", "_all", "--name", "corp-root", "--object", "corp.pem"], io)).toBe(1);
    expect(io.stdout.text).toBe(
      [
        "HOSTNAME  STATUS   CHANGED  ERROR",
        "web-1     skipped  no       no supported trust store",
        "web-2     ok       yes",
        "web-3     failed   no       update-ca-certificates failed: exit 1",
        "",
        `job ${JOB_ID}: 1 ok, 1 failed, 1 skipped`,
        "",
      ].join("\n"),
    );
  });

  it("--json prints the REST answer as one document", async () => {
    scriptInstall(MIXED);
    const io = new CapturedIo(env);
    expect(await caCommand(["install", "--target", "_all", "--name", "corp-root", "--object", "corp.pem", "--json"], io)).toBe(1);
    expect(io.stdout.writes).toHaveLength(1);
    expect(JSON.parse(io.stdout.text)).toEqual({
      job_id: JOB_ID,
      results: [
        { hostname: "web-2", status: "ok", name: "corp-root", changed: true },
        { hostname: "web-3", status: "failed", name: "corp-root", changed: false, error: "update-ca-certificates failed:\nexit 1" },
        { hostname: "web-1", status: "skipped", name: "corp-root", changed: false, error: "no supported trust store" },
      ],
    });
  });

  it("draws a progress line on a terminal, redrawn as each result arrives", async () => {
    scriptInstall(MIXED);
    const io = new CapturedIo(env, { tty: true });
    await caCommand(["install", "--target", "_all", "--name", "corp-root", "--object", "corp.pem"], io);
    expect(io.stdout.writes.slice(0, 5)).toEqual([
      "\r0/3 hosts done, 0 failed",
      "\r1/3 hosts done, 0 failed",
      "\r2/3 hosts done, 1 failed",
      "\r3/3 hosts done, 1 failed",
      "\n",
    ]);
    expect(io.stdout.writes[5]).toMatch(/^HOSTNAME  STATUS/);
  });

  it("draws no progress line when stdout is not a terminal, nor with --json", async () => {
    scriptInstall(MIXED);
    const plain = new CapturedIo(env);
    await caCommand(["install", "--target", "_all", "--name", "corp-root", "--object", "corp.pem"], plain);
    expect(plain.stdout.text).not.toContain("\r");
    expect(plain.stdout.text).not.toContain("hosts done");
    const json = new CapturedIo(env, { tty: true });
    await caCommand(["install", "--target", "_all", "--name", "corp-root", "--object", "corp.pem", "--json"], json);
    expect(json.stdout.writes).toHaveLength(1);
    expect(json.stdout.text).not.toContain("hosts done");
  });

  it("exits 3 with one line on PermissionDenied, naming the code and the details", async () => {
    gateway.on("installCA", () => {
      throw new ConnectError("API key lacks certificate:write", Code.PermissionDenied, {
        "trustplane-error-details": "key k_1 has role read",
      });
    });
    const io = new CapturedIo(env, { tty: true });
    expect(await caCommand(["install", "--target", "_all", "--name", "n", "--object", "o"], io)).toBe(3);
    expect(io.stderr.text).toBe("trustplane: API key lacks certificate:write: key k_1 has role read (PERMISSION_DENIED)\n");
    expect(io.stdout.text).toBe("");
  });

  it("exits 3 when a stream breaks after results, ending the progress line first", async () => {
    gateway.on("installCA", async function* () {
      yield started(["web-1", "web-2"]);
      yield result("web-1", ResultStatus.OK, { name: "n" });
      throw new ConnectError("control plane unavailable", Code.Unavailable);
    });
    const io = new CapturedIo(env, { tty: true });
    expect(await caCommand(["install", "--target", "_all", "--name", "n", "--object", "o"], io)).toBe(3);
    expect(io.stdout.text).toBe("\r0/2 hosts done, 0 failed\r1/2 hosts done, 0 failed\n");
    expect(io.stderr.text).toBe("trustplane: control plane unavailable (UNAVAILABLE)\n");
  });

  it("exits 3 when the gateway cannot be reached", async () => {
    const closed = await FakeGateway.start();
    await closed.close();
    const io = new CapturedIo({ TRUSTPLANE_URL: closed.url, TRUSTPLANE_API_KEY: KEY });
    expect(await caCommand(["install", "--target", "_all", "--name", "n", "--object", "o"], io)).toBe(3);
    expect(io.stderr.text).toMatch(/^trustplane: .*ECONNREFUSED.* \(UNAVAILABLE\)\n$/);
  });

  it("takes --url and --api-key over the environment", async () => {
    scriptInstall([started(["web-1"]), result("web-1", ResultStatus.OK, { name: "n" }), summary(1, 0, 0)]);
    const io = new CapturedIo({ TRUSTPLANE_URL: "http://127.0.0.1:1", TRUSTPLANE_API_KEY: "env-key" });
    const code = await caCommand(
      ["install", "--target", "web-1", "--name", "n", "--object", "o", "--url", gateway.url, "--api-key", "flag-key"],
      io,
    );
    expect(code).toBe(0);
    expect(gateway.calls[0]!.authorization).toBe("Bearer flag-key");
  });
});

describe("trustplane ca update and delete", () => {
  it("update sends name and object to UpdateCA", async () => {
    gateway.on("updateCA", async function* () {
      yield started(["web-1"]);
      yield result("web-1", ResultStatus.FAILED, { name: "corp-root", error: 'CA "corp-root" is not installed' });
      yield summary(0, 1, 0);
    });
    const io = new CapturedIo(env);
    expect(await caCommand(["update", "--target", "web-1", "--name", "corp-root", "--object", "new.pem"], io)).toBe(1);
    const request = gateway.calls[0]!.request as any;
    expect([gateway.calls[0]!.method, request.target, request.name, request.object]).toEqual(["updateCA", "web-1", "corp-root", "new.pem"]);
    expect(io.stdout.text).toContain('web-1     failed  no       CA "corp-root" is not installed\n');
  });

  it("delete --dry-run asks for a dry run and says so", async () => {
    gateway.on("deleteCA", async function* () {
      yield started(["web-1"], { dryRun: true });
      yield result("web-1", ResultStatus.OK, { name: "corp-root", changed: true });
      yield summary(1, 0, 0);
    });
    const io = new CapturedIo(env);
    expect(await caCommand(["delete", "--target", "web-1", "--name", "corp-root", "--dry-run", "--json"], io)).toBe(0);
    expect((gateway.calls[0]!.request as any).options.dryRun).toBe(true);
    expect(JSON.parse(io.stdout.text)).toEqual({
      job_id: JOB_ID,
      results: [{ hostname: "web-1", status: "ok", name: "corp-root", changed: true }],
      dry_run: true,
    });
    const human = new CapturedIo(env);
    await caCommand(["delete", "--target", "web-1", "--name", "corp-root", "--dry-run"], human);
    expect(human.stdout.text).toContain(`job ${JOB_ID}: 1 ok, 0 failed, 0 skipped (dry run)\n`);
  });
});

describe("trustplane ca list", () => {
  const ROOT = {
    name: "corp-root",
    source: CertificateSource.CUSTOM,
    object: "corp.pem",
    sha256: "ab".repeat(32),
    subject: "CN=Corp Root CA\nO=Corp",
    fingerprintSha256: "12:34:56:78:9A:BC:DE:F0:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:01:02:03:04:05:06:07:08",
    notAfter: "2034-01-01T00:00:00.000Z",
  };
  const SYSTEM = {
    name: "mozilla/ISRG_Root_X1.crt",
    source: CertificateSource.SYSTEM,
    subject: "CN=ISRG Root X1",
    fingerprintSha256: "96:BC:EC:06:26:49:76:F3:74:60:77:9A:CF:28:C5:A7:CF:E8:A3:C0:AA:E1:1A:8F:FC:EE:05:C0:BD:DF:08:C6",
    notAfter: "2035-06-04T11:04:38.000Z",
  };

  beforeEach(() => {
    gateway.on("listCA", async function* () {
      yield started(["web-1", "web-2", "web-3"], { operation: "certificate.list" });
      yield result("web-2", ResultStatus.OK, { certificates: [] });
      yield result("web-1", ResultStatus.OK, { certificates: [ROOT, SYSTEM] });
      yield result("web-3", ResultStatus.FAILED, { error: "agent offline (last seen 2024-05-01T10:00:00.000Z)" });
      yield summary(2, 1, 0);
    });
  });

  it("prints a table of certificates per host, exit 1 for the offline host", async () => {
    const io = new CapturedIo(env);
    expect(await caCommand(["list", "--target", "_all", "--source", "custom"], io)).toBe(1);
    expect((gateway.calls[0]!.request as any).source).toBe(CertificateSource.CUSTOM);
    expect(io.stdout.text).toBe(
      [
        "web-1: ok, 2 CA certificates",
        "  SOURCE  NAME                      SUBJECT                 NOT_AFTER                 FINGERPRINT",
        "  custom  corp-root                 CN=Corp Root CA O=Corp  2034-01-01T00:00:00.000Z  12:34:56:78:9A:BC:DE:F0",
        "  system  mozilla/ISRG_Root_X1.crt  CN=ISRG Root X1         2035-06-04T11:04:38.000Z  96:BC:EC:06:26:49:76:F3",
        "",
        "web-2: ok, 0 CA certificates",
        "",
        "web-3: failed: agent offline (last seen 2024-05-01T10:00:00.000Z)",
        "",
        `job ${JOB_ID}: 2 ok, 1 failed, 0 skipped`,
        "",
      ].join("\n"),
    );
  });

  it("--json carries each host's certificates as the REST answer does", async () => {
    const io = new CapturedIo(env);
    await caCommand(["list", "--target", "_all", "--json"], io);
    expect((gateway.calls[0]!.request as any).source).toBe(CertificateSource.UNSPECIFIED);
    const body = JSON.parse(io.stdout.text);
    expect(body.results[1]).toEqual({
      hostname: "web-1",
      status: "ok",
      name: "",
      changed: false,
      certificates: [
        {
          name: "corp-root",
          source: "custom",
          object: "corp.pem",
          sha256: "ab".repeat(32),
          subject: "CN=Corp Root CA\nO=Corp",
          fingerprint_sha256: ROOT.fingerprintSha256,
          not_after: ROOT.notAfter,
        },
        {
          name: "mozilla/ISRG_Root_X1.crt",
          source: "system",
          subject: "CN=ISRG Root X1",
          fingerprint_sha256: SYSTEM.fingerprintSha256,
          not_after: SYSTEM.notAfter,
        },
      ],
    });
    expect(body.results[0]).toEqual({ hostname: "web-2", status: "ok", name: "", changed: false, certificates: [] });
  });
});

describe("usage errors", () => {
  it.each([
    [["install", "--name", "n", "--object", "o"], "trustplane ca install: --target is required (see --help)"],
    [["install", "--target", "_all", "--object", "o"], "trustplane ca install: --name is required (see --help)"],
    [["delete", "--target", "_all", "--name", "n", "--object", "o"], "trustplane ca delete: Unknown option '--object' (see --help)"],
    [["install", "--target", "_all", "--name", "n", "--object", "o", "--timeout", "1.5"], 'trustplane ca install: --timeout must be a whole number from 0 to 4294967295, got "1.5"'],
    [["install", "--target", "_all", "--name", "n", "--object", "o", "--max-errors", "101%"], 'trustplane ca install: --max-errors must be N or N% (0% to 100%), got "101%"'],
    [["list", "--target", "_all", "--source", "distro"], 'trustplane ca list: --source must be one of custom, system, unmanaged, got "distro"'],
    [["list", "--target", "_all", "--dry-run"], "trustplane ca list: Unknown option '--dry-run' (see --help)"],
    [["install", "--target", "_all", "--name", "n", "--object", "o", "--url", "ftp://x"], 'trustplane ca install: --url must be an http:// or https:// URL, got "ftp://x"'],
    [["frob"], 'trustplane ca: expected one of "install", "list", "update", "delete", got "frob" (see --help)'],
    [[], 'trustplane ca: expected one of "install", "list", "update", "delete", got nothing (see --help)'],
  ])("trustplane ca %j", async (argv, message) => {
    await expect(caCommand(argv, new CapturedIo(env))).rejects.toThrow(message);
    expect(gateway.calls).toHaveLength(0);
  });

  it("a missing API key names both ways to give one", async () => {
    const io = new CapturedIo({ TRUSTPLANE_URL: gateway.url });
    await expect(caCommand(["install", "--target", "_all", "--name", "n", "--object", "o"], io)).rejects.toThrow(
      "trustplane ca install: no API key: give --api-key KEY or set TRUSTPLANE_API_KEY",
    );
  });

  it("--help prints the flags and sends nothing", async () => {
    const io = new CapturedIo(env);
    expect(await caCommand(["install", "--help"], io)).toBe(0);
    expect(io.stdout.text).toMatch(/^Usage: trustplane ca install \[flags\]\n/);
    expect(io.stdout.text).toContain("--max-concurrency N|N%");
    expect(io.stdout.text).toContain("--api-key KEY");
    const group = new CapturedIo(env);
    expect(await caCommand(["--help"], group)).toBe(0);
    expect(group.stdout.text).toMatch(/^Usage: trustplane ca <action> \[flags\]\n/);
    expect(group.stdout.text).toMatch(/\n  install  install a CA/);
    expect(gateway.calls).toHaveLength(0);
  });
});
