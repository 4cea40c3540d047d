import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { StatusError } from "../common/status-error.js";
import { labelsMatch, parseTarget, type Target } from "./target.js";

describe("parseTarget", () => {
  it.each<[string, Target]>([
    ["web-1", { kind: "hostname", hostname: "web-1" }],
    ["Web-1.Example.com", { kind: "hostname", hostname: "web-1.example.com" }],
    ["_any", { kind: "any" }],
    ["_all", { kind: "all" }],
    ["env:prod", { kind: "selectors", selectors: [{ key: "env", value: "prod" }] }],
    ["group:web.dev.us-east", { kind: "selectors", selectors: [{ key: "group", value: "web.dev.us-east" }] }],
    [
      "env:prod,group:web",
      { kind: "selectors", selectors: [{ key: "env", value: "prod" }, { key: "group", value: "web" }] },
    ],
    ["a_b-C:x_Y-1", { kind: "selectors", selectors: [{ key: "a_b-C", value: "x_Y-1" }] }],
    [
      Array.from({ length: 8 }, (_, i) => `k${i}:v`).join(","),
      { kind: "selectors", selectors: Array.from({ length: 8 }, (_, i) => ({ key: `k${i}`, value: "v" })) },
    ],
  ])("parses %j", (text, expected) => {
    expect(parseTarget(text)).toEqual(expected);
  });

  it.each<[string, string]>([
    ["", "target is required"],
    ["env:pr*d", 'invalid target "env:pr*d": selector value "pr*d" must be dot-separated [A-Za-z0-9_-]+ segments'],
    ["env:", 'invalid target "env:": selector value "" must be dot-separated [A-Za-z0-9_-]+ segments'],
    [":prod", 'invalid target ":prod": selector key "" must match [A-Za-z0-9_-]+'],
    ["e.v:prod", 'invalid target "e.v:prod": selector key "e.v" must match [A-Za-z0-9_-]+'],
    ["env:prod,", 'invalid target "env:prod,": selector "" must be key:value'],
    ["env:prod,web", 'invalid target "env:prod,web": selector "web" must be key:value'],
    ["env:prod:eu", 'invalid target "env:prod:eu": selector value "prod:eu" must be dot-separated [A-Za-z0-9_-]+ segments'],
    ["group:web..dev", 'invalid target "group:web..dev": selector value "web..dev" must be dot-separated [A-Za-z0-9_-]+ segments'],
    ["group:.web", 'invalid target "group:.web": selector value ".web" must be dot-separated [A-Za-z0-9_-]+ segments'],
    [Array.from({ length: 9 }, (_, i) => `k${i}:v`).join(","), "at most 8 selectors, got 9"],
    ["web,db", 'invalid target "web,db": each selector must be key:value'],
    ["_some", 'invalid target "_some": not a valid hostname, _any, _all or key:value selector'],
    ["bad_host", 'invalid target "bad_host": not a valid hostname, _any, _all or key:value selector'],
    ["-web", 'invalid target "-web": not a valid hostname, _any, _all or key:value selector'],
    ["web 1", 'invalid target "web 1": not a valid hostname, _any, _all or key:value selector'],
    ["a".repeat(254), "not a valid hostname"],
    ["x".repeat(1025), "invalid target: longer than 1024 characters"],
  ])("refuses %j with INVALID_ARGUMENT", (text, message) => {
    let thrown: unknown;
    try {
      parseTarget(text);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StatusError);
    expect((thrown as StatusError).code).toBe(status.INVALID_ARGUMENT);
    expect((thrown as StatusError).message).toContain(message);
    expect((thrown as StatusError).details).not.toBe("");
  });
});

describe("labelsMatch", () => {
  const selectors = (text: string) => {
    const target = parseTarget(text);
    if (target.kind !== "selectors") throw new Error("not selectors");
    return target.selectors;
  };
  it.each<[Record<string, string>, string, boolean]>([
    [{ group: "web" }, "group:web", true],
    [{ group: "web.dev.us-east" }, "group:web", true],
    [{ group: "web.dev.us-east" }, "group:web.dev", true],
    [{ group: "web.dev.us-east" }, "group:web.dev.us-east", true],
    [{ group: "webserver" }, "group:web", false],
    [{ group: "web-dev" }, "group:web", false],
    [{ group: "web" }, "group:web.dev", false],
    [{ group: "web.devops" }, "group:web.dev", false],
    [{ group: "Web" }, "group:web", false],
    [{}, "group:web", false],
    [{ env: "prod" }, "group:web", false],
    [{ env: "prod", group: "web" }, "env:prod,group:web", true],
    [{ env: "dev", group: "web" }, "env:prod,group:web", false],
    [{ env: "prod", group: "db" }, "env:prod,group:web", false],
  ])("labels %j against %s: %s", (labels, text, expected) => {
    expect(labelsMatch(labels, selectors(text))).toBe(expected);
  });
});
