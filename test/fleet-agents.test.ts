// Issue #4, behaviour 5 and the fleet view: GET /agent shows online and offline
// agents with their facts, across a control-plane restart; DELETE forgets one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa } from "./fixtures/pki.js";
import { Fleet } from "./harness/fleet.js";
import { until } from "./harness/until.js";

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

describe("the fleet", () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await Fleet.start({
      agents: [
        { hostname: "web-1", labels: { env: "prod", group: "web.eu" } },
        { hostname: "web-2", labels: { env: "prod", group: "web.us" } },
      ],
    });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it("lists online agents with labels, OS facts and times", async () => {
    const answer = await fleet.rest("GET", "/agent");
    expect(answer.status).toBe(200);
    expect(answer.body.agents.map((a: any) => a.hostname)).toEqual(["web-1", "web-2"]);
    expect(answer.body.agents[0]).toMatchObject({
      hostname: "web-1",
      labels: { env: "prod", group: "web.eu" },
      state: "online",
      stale: false,
      os: { id: "debian", version_id: "12", trust_store: "debian", arch: process.arch },
      agent_version: "0.1.0",
      commands_in_flight: 0,
    });
    expect(answer.body.agents[0].connected_at).toMatch(RFC3339);
    expect(answer.body.agents[0].last_seen_at).toMatch(RFC3339);

    const one = await fleet.rest("GET", "/agent/web-2");
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ hostname: "web-2", state: "online", labels: { group: "web.us" } });
    const filtered = await fleet.rest("GET", "/agent?target=group:web.us");
    expect(filtered.body.agents.map((a: any) => a.hostname)).toEqual(["web-2"]);
    expect((await fleet.rest("GET", "/agent/nope-9")).status).toBe(404);
  });

  it("shows a stopped agent offline with its last-seen time, before and after a control-plane restart", async () => {
    await fleet.agent("web-2").process.stop();
    let offline: any;
    await until(async () => {
      offline = (await fleet.rest("GET", "/agent/web-2")).body;
      return offline.state === "offline";
    }, "web-2 to be offline");
    expect(offline.last_seen_at).toMatch(RFC3339);
    expect(offline.connected_at).toBeUndefined();
    expect((await fleet.rest("GET", "/agent?state=offline")).body.agents.map((a: any) => a.hostname)).toEqual(["web-2"]);

    const web1 = fleet.agent("web-1").process;
    const seen = web1.lines.length;
    await fleet.server.stop();
    await fleet.startServer();
    await web1.waitForMessage("connected to the control plane", 40_000, seen);
    const after = await fleet.rest("GET", "/agent/web-2");
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ hostname: "web-2", state: "offline", last_seen_at: offline.last_seen_at, labels: { env: "prod" } });

    expect((await fleet.upload("ca.pem", makeCa().certPem)).status).toBe(200);
    const install = await fleet.install("env:prod", "corp-root", "ca.pem");
    const web2 = install.body.results.find((r: any) => r.hostname === "web-2");
    expect(web2).toMatchObject({ status: "failed", changed: false });
    expect(web2.error).toMatch(/^agent offline \(last seen /);
  });

  it("forgets an offline agent, refuses to forget an online one, and needs agent:write", async () => {
    const writer = await fleet.createKey("write");
    expect((await fleet.rest("DELETE", "/agent/web-2", { key: writer })).status).toBe(403);
    const online = await fleet.rest("DELETE", "/agent/web-1");
    expect(online.status).toBe(400);
    expect(online.body.error).toContain("online");

    const forgotten = await fleet.rest("DELETE", "/agent/web-2");
    expect(forgotten.status).toBe(200);
    expect(forgotten.body).toMatchObject({ hostname: "web-2", state: "offline" });
    expect((await fleet.rest("GET", "/agent/web-2")).status).toBe(404);
    const install = await fleet.install("_all", "corp-root", "ca.pem");
    expect(install.body.results.map((r: any) => r.hostname)).toEqual(["web-1"]);
  });
});
