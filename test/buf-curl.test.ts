// Issue #2, behaviour 9: a gRPC client with none of our generated code (`buf curl`)
// discovers the API through server reflection and calls it, on the control plane
// (gRPC) and through the gateway (Connect and gRPC-Web, schema from proto/).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa } from "./fixtures/pki.js";
import { Fleet } from "./harness/fleet.js";
import { REPO_ROOT } from "./harness/trustplane-process.js";

const BUF = fileURLToPath(new URL("../node_modules/.bin/buf", import.meta.url));

function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BUF, ["curl", ...args], { cwd: REPO_ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** buf curl prints each streamed message as a pretty JSON document; split them. */
function jsonDocuments(text: string): any[] {
  return text
    .split(/\n(?=\{)/)
    .map((chunk) => chunk.trim())
    .filter(Boolean)
    .map((chunk) => JSON.parse(chunk));
}

describe("buf curl", () => {
  let fleet: Fleet;
  const request = JSON.stringify({ target: "_all", name: "buf-root", object: "buf.pem" });

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [{ hostname: "buf-1" }] });
    expect((await fleet.upload("buf.pem", makeCa({ commonName: "buf CA" }).certPem)).status).toBe(200);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it("lists the services of the control plane through server reflection", async () => {
    const listed = await bufCurl(["--protocol", "grpc", "--list-services", `http://${fleet.grpcAddress}`]);
    expect(listed.stderr).toBe("");
    expect(listed.stdout.split("\n").filter(Boolean)).toEqual(
      expect.arrayContaining(["trustplane.v1.AgentService", "trustplane.v1.CertificateService", "trustplane.v1.FileService"]),
    );
  });

  it("calls InstallCA on the control plane with a key, and is refused without one", async () => {
    const url = `http://${fleet.grpcAddress}/trustplane.v1.CertificateService/InstallCA`;
    const refused = await bufCurl(["--protocol", "grpc", "-d", request, url]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("unauthenticated");

    const called = await bufCurl(["--protocol", "grpc", "-H", `Authorization: Bearer ${fleet.adminKey}`, "-d", request, url]);
    expect(called.stderr).toBe("");
    const events = jsonDocuments(called.stdout);
    expect(events.map((e) => Object.keys(e.event)[0])).toEqual(["started", "result", "summary"]);
    expect(events[0].event.started.hostnames).toEqual(["buf-1"]);
    expect(events[1].event.result).toMatchObject({ hostname: "buf-1", status: "RESULT_STATUS_OK", name: "buf-root", changed: true });
  });

  it.each(["connect", "grpcweb"])("calls InstallCA through the gateway over %s", async (protocol) => {
    const url = `${fleet.url}/trustplane.v1.CertificateService/InstallCA`;
    const called = await bufCurl([
      "--protocol", protocol, "--schema", "proto", "-H", `Authorization: Bearer ${fleet.adminKey}`, "-d", request, url,
    ]);
    expect(called.stderr).toBe("");
    const events = jsonDocuments(called.stdout);
    expect(events.map((e) => Object.keys(e.event)[0])).toEqual(["started", "result", "summary"]);
    expect(events[1].event.result).toMatchObject({ hostname: "buf-1", status: "RESULT_STATUS_OK", name: "buf-root" });

    const refused = await bufCurl(["--protocol", protocol, "--schema", "proto", "-d", request, url]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("unauthenticated");
  });
});
