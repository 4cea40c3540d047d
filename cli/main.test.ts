// The real `trustplane` process against a fake gateway: exit codes scripts rely
// on (0 all ok, 1 a host failed, 2 usage, 3 API error), and that a client command
// exits on its own once the answer is printed.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { FakeGateway } from "./testing/fake-gateway.js";

const BIN = fileURLToPath(new URL("../bin/trustplane.js", import.meta.url));
const JOB_ID = "3c5d8f0e-1111-4a4a-9b9b-222233334444";

let gateway: FakeGateway;

beforeAll(async () => {
  gateway = await FakeGateway.start();
  gateway.on("installCA", async function* (request: { target: string }) {
    yield { event: { event: { case: "started", value: { jobId: JOB_ID, hostnames: ["web-1"] } } } };
    const status = request.target === "bad" ? ResultStatus.FAILED : ResultStatus.OK;
    yield { event: { event: { case: "result", value: { hostname: "web-1", status, name: "n", error: status === ResultStatus.OK ? "" : "timeout" } } } };
  });
  gateway.on("listAgents", () => {
    throw new ConnectError("API key lacks agent:read", Code.PermissionDenied);
  });
});
afterAll(() => gateway.close());

function trustplane(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { TRUSTPLANE_URL: _url, TRUSTPLANE_API_KEY: _key, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...inherited, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe("trustplane client commands as a process", () => {
  it.each([
    ["all hosts ok", 0, ["ca", "install", "--target", "_all", "--name", "n", "--object", "o", "--json"], ""],
    ["a host failed", 1, ["ca", "install", "--target", "bad", "--name", "n", "--object", "o", "--json"], ""],
    ["permission denied", 3, ["agent", "list"], "trustplane: API key lacks agent:read (PERMISSION_DENIED)\n"],
    ["a usage error", 2, ["job", "get"], "trustplane job get: ID is required (see --help)\n"],
  ])("%s: exit %i", async (_what, code, args, stderr) => {
    const result = await trustplane(args as string[], { TRUSTPLANE_URL: gateway.url, TRUSTPLANE_API_KEY: "tp_key" });
    expect(result.code).toBe(code);
    expect(result.stderr).toBe(stderr);
    if (code <= 1) expect(JSON.parse(result.stdout).job_id).toBe(JOB_ID);
  });

  it("without an API key: exit 2 naming the flag and the variable", async () => {
    const result = await trustplane(["ca", "list", "--target", "_all"], { TRUSTPLANE_URL: gateway.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("trustplane ca list: no API key: give --api-key KEY or set TRUSTPLANE_API_KEY\n");
  });
});
