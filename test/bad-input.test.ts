// Issue #2, behaviour 5: bad input answers 400 with a reason, nothing is
// dispatched and nothing on any node's disk changes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCa, makeLeaf } from "./fixtures/pki.js";
import { Fleet } from "./harness/fleet.js";
import { treeSnapshot } from "./harness/sandbox-root.js";

describe("bad install requests", () => {
  let fleet: Fleet;
  const good = makeCa({ commonName: "good CA" });
  const other = makeCa({ commonName: "other CA" });

  const objects: Record<string, string> = {
    "good.pem": good.certPem,
    "private-key.pem": good.keyPem,
    "cert-and-key.pem": `${good.certPem}${good.keyPem}`,
    "two-certs.pem": `${good.certPem}${other.certPem}`,
    "leaf.pem": makeLeaf(good).certPem,
    "not-ca.pem": makeCa({ notCa: true }).certPem,
    "expired.pem": makeCa({ expired: true }).certPem,
    "garbage.pem": "this is not a certificate\n",
  };

  beforeAll(async () => {
    fleet = await Fleet.start({ agents: [{ hostname: "node-1" }, { hostname: "node-2" }] });
    for (const [name, content] of Object.entries(objects)) {
      expect((await fleet.upload(name, content)).status).toBe(200);
    }
  });
  afterAll(async () => {
    await fleet?.close();
  });

  const post = (body: string) =>
    fleet.rest("POST", "/node/_all/certificate/ca", { body, headers: { "content-type": "application/json" } });

  it.each([
    { case: "malformed JSON", body: '{"name": "corp-root", ', error: /JSON/i },
    { case: "an unknown field", body: JSON.stringify({ name: "corp-root", object: "good.pem", force: true }), error: /force/ },
    { case: "a missing object", body: JSON.stringify({ name: "corp-root" }), error: /object/ },
    { case: "a missing name", body: JSON.stringify({ object: "good.pem" }), error: /name/ },
    { case: "a JSON array", body: "[]", error: /./ },
    { case: "name ../x", body: JSON.stringify({ name: "../x", object: "good.pem" }), error: /name/ },
    { case: "a 65-character name", body: JSON.stringify({ name: "a".repeat(65), object: "good.pem" }), error: /name/ },
    { case: "a private key", body: JSON.stringify({ name: "corp-root", object: "private-key.pem" }), error: /PRIVATE KEY|certificate/i },
    { case: "a certificate with its key appended", body: JSON.stringify({ name: "corp-root", object: "cert-and-key.pem" }), error: /PRIVATE KEY/i },
    { case: "two certificates", body: JSON.stringify({ name: "corp-root", object: "two-certs.pem" }), error: /2 certificates/ },
    { case: "a leaf", body: JSON.stringify({ name: "corp-root", object: "leaf.pem" }), error: /not a CA/i },
    { case: "a self-signed non-CA", body: JSON.stringify({ name: "corp-root", object: "not-ca.pem" }), error: /not a CA/i },
    { case: "an expired CA", body: JSON.stringify({ name: "corp-root", object: "expired.pem" }), error: /expired/i },
    { case: "garbage", body: JSON.stringify({ name: "corp-root", object: "garbage.pem" }), error: /PEM|certificate/i },
    { case: "an object that does not exist", body: JSON.stringify({ name: "corp-root", object: "missing.pem" }), error: /not found/ },
  ])("refuses $case with 400 and touches nothing", async ({ body, error }) => {
    const before = [...fleet.agents.values()].map((agent) => treeSnapshot(agent.root));
    const answer = await post(body);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: expect.stringMatching(error), details: expect.any(String), code: 400 });
    expect(answer.body.job_id).toBeUndefined();
    const after = [...fleet.agents.values()].map((agent) => treeSnapshot(agent.root));
    expect(after).toEqual(before);
  });

  it("still installs the good object afterwards (the fleet was not disturbed)", async () => {
    const answer = await post(JSON.stringify({ name: "corp-root", object: "good.pem" }));
    expect(answer.status).toBe(200);
    expect(answer.body.results.map((r: any) => [r.status, r.changed])).toEqual([
      ["ok", true],
      ["ok", true],
    ]);
  });

  it("answers unknown routes and bad methods with the error body", async () => {
    const unknown = await fleet.rest("GET", "/nope");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: expect.any(String), details: expect.any(String), code: 404 });
    const oversized = await post(JSON.stringify({ name: "corp-root", object: "x".repeat(2 * 1024 * 1024) }));
    expect(oversized.status).toBe(413);
    expect(oversized.body).toEqual({ error: expect.any(String), details: expect.any(String), code: 413 });
  });
});
