import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { ApiKeyLookup, ApiKeyPrincipal } from "./api-keys-file.js";
import { CallAuthorizer } from "./call-authorizer.js";
import { grantedPermissions, PERMISSIONS, type Permission, type Role } from "./permissions.js";

// One row per (role, permission): a missing case is visible at a glance.
const TABLE: [Role, Permission, boolean][] = [
  ["read", "certificate:read", true],
  ["read", "certificate:write", false],
  ["read", "file:read", true],
  ["read", "file:write", false],
  ["read", "job:read", true],
  ["read", "agent:read", true],
  ["read", "agent:write", false],
  ["write", "certificate:read", true],
  ["write", "certificate:write", true],
  ["write", "file:read", true],
  ["write", "file:write", true],
  ["write", "job:read", true],
  ["write", "agent:read", true],
  ["write", "agent:write", false],
  ["admin", "certificate:read", true],
  ["admin", "certificate:write", true],
  ["admin", "file:read", true],
  ["admin", "file:write", true],
  ["admin", "job:read", true],
  ["admin", "agent:read", true],
  ["admin", "agent:write", true],
];

describe("role permissions", () => {
  it("the table covers every role and permission", () => {
    expect(TABLE).toHaveLength(3 * PERMISSIONS.length);
  });

  it.each(TABLE)("%s has %s: %s", (role, permission, granted) => {
    expect(grantedPermissions({ role }).has(permission)).toBe(granted);
  });

  it("a key's own permissions are granted without a role, and add to a role", () => {
    expect([...grantedPermissions({ permissions: ["file:read"] })]).toEqual(["file:read"]);
    expect(grantedPermissions({ role: "read", permissions: ["agent:write"] }).has("agent:write")).toBe(true);
  });
});

describe("CallAuthorizer", () => {
  const principal: ApiKeyPrincipal = { id: "k_writer", name: "w", permissions: grantedPermissions({ role: "write" }) };
  const lookup: ApiKeyLookup = { lookup: async (key) => (key === "tp_good" ? principal : undefined) };
  const authorizer = new CallAuthorizer(lookup);
  const metadata = (authorization?: string) => {
    const m = new Metadata();
    if (authorization !== undefined) m.set("authorization", authorization);
    return m;
  };

  it.each<[string | undefined, Permission, number | undefined, string]>([
    [undefined, "certificate:read", status.UNAUTHENTICATED, "API key required"],
    ["", "certificate:read", status.UNAUTHENTICATED, "API key required"],
    ["tp_good", "certificate:read", status.UNAUTHENTICATED, "API key required"],
    ["Basic dXNlcjpwYXNz", "certificate:read", status.UNAUTHENTICATED, "API key required"],
    ["Bearer tp_bad", "certificate:read", status.UNAUTHENTICATED, "unknown API key"],
    ["Bearer tp_good", "agent:write", status.PERMISSION_DENIED, 'key "k_writer" lacks permission agent:write'],
    ["Bearer tp_good", "certificate:write", undefined, ""],
    ["bearer   tp_good", "file:read", undefined, ""],
  ])("authorization %j for %s → %s %s", async (header, permission, code, message) => {
    const call = { metadata: metadata(header), getPeer: () => "127.0.0.1:5000", getPath: () => "/trustplane.v1.FileService/List" };
    const outcome = await authorizer.authorize(call, permission).then(
      (who) => ({ who: who.id }),
      (error: { code: number; message: string }) => ({ code: error.code, message: error.message }),
    );
    expect(outcome).toEqual(code === undefined ? { who: "k_writer" } : { code, message });
  });
});
