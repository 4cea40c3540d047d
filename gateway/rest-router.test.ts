import { describe, expect, it } from "vitest";
import { HttpError } from "./error-body.js";
import { RestRouter } from "./rest-router.js";

const router = new RestRouter([
  { method: "POST", path: "/node/{hostname}/certificate/ca", id: "install" },
  { method: "GET", path: "/node/{hostname}/certificate/ca", id: "list" },
  { method: "DELETE", path: "/node/{hostname}/certificate/ca/{name}", id: "delete" },
  { method: "GET", path: "/file", id: "files" },
  { method: "GET", path: "/file/{name}", id: "file" },
]);

function refusal(method: string, path: string): { status: number; message: string; headers: Record<string, string> } {
  try {
    router.match(method, path);
  } catch (error) {
    if (error instanceof HttpError) return { status: error.status, message: error.message, headers: { ...error.headers } };
    throw error;
  }
  throw new Error(`${method} ${path} matched`);
}

describe("RestRouter", () => {
  it.each([
    ["POST", "/node/web-1/certificate/ca", "install", { hostname: "web-1" }],
    ["GET", "/node/env%3Aprod%2Cgroup%3Aweb/certificate/ca", "list", { hostname: "env:prod,group:web" }],
    ["GET", "/node/env:prod/certificate/ca", "list", { hostname: "env:prod" }],
    ["DELETE", "/node/_all/certificate/ca/corp", "delete", { hostname: "_all", name: "corp" }],
    ["GET", "/file", "files", {}],
    ["GET", "/file/a%2Fb.pem", "file", { name: "a/b.pem" }],
  ])("%s %s is %s", (method, path, id, params) => {
    const match = router.match(method, path);
    expect([match.route.id, match.params]).toEqual([id, params]);
  });

  it.each([
    ["GET", "/", 404, "route not found", {}],
    ["GET", "/file/", 404, "route not found", {}],
    ["GET", "/node//certificate/ca", 404, "route not found", {}],
    ["GET", "/FILE", 404, "route not found", {}],
    ["PUT", "/node/web-1/certificate/ca", 405, "method not allowed", { allow: "GET, POST" }],
    ["POST", "/file/x", 405, "method not allowed", { allow: "GET" }],
    ["GET", "/node/%ZZ/certificate/ca", 400, "invalid path", {}],
  ])("%s %s is %i", (method, path, status, message, headers) => {
    expect(refusal(method, path)).toEqual({ status, message, headers });
  });
});
