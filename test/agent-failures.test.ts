// Issue #2, behaviours 6, 7 and 10: offline, disconnected and hung agents, a failing
// rebuild tool, and a control plane restart.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa, makeLeaf, opensslVerifies } from "./fixtures/pki.js";
import { byHostname, Fleet, writeScript } from "./harness/fleet.js";
import { debianAnchor, debianBundle } from "./harness/sandbox-root.js";
import { until } from "./harness/until.js";

describe("agents that are gone, hung or failing", () => {
  let fleet: Fleet;
  let scripts: string;
  let blocking: string;
  const ca = makeCa({ commonName: "failure CA" });

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [{ hostname: "steady-1" }, { hostname: "leaving-1" }] });
    scripts = join(fleet.dir, "scripts");
    // Records that the rebuild started (with its pid, to clean up), then hangs.
    blocking = writeScript(scripts, "hang.sh", 'echo $$ > "$TRUSTPLANE_ROOT/rebuild-started"\nexec sleep 120');
    expect((await fleet.upload("ca.pem", ca.certPem)).status).toBe(200);
  });
  afterAll(async () => {
    for (const agent of fleet?.agents.values() ?? []) {
      const pidFile = join(agent.root, "rebuild-started");
      if (existsSync(pidFile)) {
        try {
          process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await fleet?.close();
  });

  it("reports a stopped agent as failed, agent offline, on the next _all", async () => {
    await fleet.agent("leaving-1").process.stop();
    const answer = await fleet.install("_all", "corp-root", "ca.pem");
    expect(answer.status).toBe(200);
    const [leaving, steady] = byHostname<any>(answer.body.results);
    expect(steady).toEqual({ hostname: "steady-1", status: "ok", name: "corp-root", changed: true });
    expect(leaving).toMatchObject({ hostname: "leaving-1", status: "failed", name: "corp-root", changed: false });
    expect(leaving.error).toMatch(/^agent offline \(last seen \d{4}-\d\d-\d\dT[\d:.]+Z\)$/);
  });

  it("answers agent disconnected at once when an agent dies mid-command", async () => {
    const dying = await fleet.startAgent({ hostname: "dying-1", updateCommand: blocking });
    const pending = fleet.install("dying-1", "corp-root", "ca.pem", "?timeout=300");
    await until(() => existsSync(join(dying.root, "rebuild-started")), "the rebuild to start");
    dying.process.signal("SIGKILL");
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.body.results).toEqual([
      { hostname: "dying-1", status: "failed", name: "corp-root", changed: false, error: "agent disconnected" },
    ]);
  });

  it("answers timeout for a hung agent after ?timeout=", async () => {
    const hung = await fleet.startAgent({ hostname: "hung-1", updateCommand: blocking });
    const answer = await fleet.install("hung-1", "corp-root", "ca.pem", "?timeout=1");
    expect(answer.status).toBe(200);
    expect(answer.body.results).toEqual([
      { hostname: "hung-1", status: "failed", name: "corp-root", changed: false, error: "timeout" },
    ]);
    expect(existsSync(join(hung.root, "rebuild-started"))).toBe(true);
  });

  it("keeps the previous trust store when the rebuild tool fails, and says why", async () => {
    const v1 = makeCa({ commonName: "tool v1" });
    const v2 = makeCa({ commonName: "tool v2" });
    expect((await fleet.upload("tool-v1.pem", v1.certPem)).status).toBe(200);
    expect((await fleet.upload("tool-v2.pem", v2.certPem)).status).toBe(200);
    const first = await fleet.startAgent({ hostname: "tool-1" });
    expect((await fleet.install("tool-1", "tool-ca", "tool-v1.pem")).body.results[0]).toMatchObject({ status: "ok", changed: true });
    const anchorBefore = readFileSync(debianAnchor(first.root, "tool-ca"));
    const bundleBefore = readFileSync(debianBundle(first.root));
    await first.process.stop();

    const failing = writeScript(scripts, "fail.sh", 'echo "update-ca-certificates: simulated failure" >&2\nexit 3');
    const restarted = await fleet.startAgent({ hostname: "tool-1", updateCommand: failing });
    const answer = await fleet.install("tool-1", "tool-ca", "tool-v2.pem");
    expect(answer.status).toBe(200);
    expect(answer.body.results).toHaveLength(1);
    expect(answer.body.results[0]).toMatchObject({ hostname: "tool-1", status: "failed", name: "tool-ca", changed: false });
    expect(answer.body.results[0].error).toContain("update-ca-certificates: simulated failure");
    expect(readFileSync(debianAnchor(restarted.root, "tool-ca"))).toEqual(anchorBefore);
    expect(readFileSync(debianBundle(restarted.root))).toEqual(bundleBefore);
    expect(opensslVerifies(debianBundle(restarted.root), makeLeaf(v1).certPem)).toBe(true);
  });

  it("agents reconnect on their own after the control plane restarts", async () => {
    const steady = fleet.agent("steady-1").process;
    const seen = steady.lines.length;
    await fleet.server.stop();
    expect(await fleet.server.exited).toEqual({ code: 0, signal: null });
    await fleet.startServer();
    await steady.waitForMessage("connected to the control plane", 40_000, seen);
    const answer = await fleet.install("steady-1", "after-restart", "ca.pem");
    expect(answer.status).toBe(200);
    expect(answer.body.results).toEqual([{ hostname: "steady-1", status: "ok", name: "after-restart", changed: true }]);
  });
});
