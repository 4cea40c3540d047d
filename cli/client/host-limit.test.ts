import { describe, expect, it } from "vitest";
import { UsageError } from "../usage-error.js";
import { hostLimitText, parseHostLimit } from "./host-limit.js";

describe("parseHostLimit", () => {
  it.each([
    ["3", { limit: { case: "count", value: 3 } }],
    ["0", { limit: { case: "count", value: 0 } }],
    ["4294967295", { limit: { case: "count", value: 4294967295 } }],
    ["50%", { limit: { case: "percent", value: 50 } }],
    ["0%", { limit: { case: "percent", value: 0 } }],
    ["100%", { limit: { case: "percent", value: 100 } }],
  ])("%s", (text, limit) => {
    expect(parseHostLimit(text, "--max-errors", "trustplane ca install")).toEqual(limit);
  });

  it.each([
    ["", "N or N%"],
    ["-1", "N or N%"],
    ["1.5", "N or N%"],
    ["abc", "N or N%"],
    ["50 %", "N or N%"],
    ["%", "N or N%"],
    ["101%", "N or N%"],
    ["1000%", "N or N%"],
    ["2.5%", "N or N%"],
    ["4294967296", "whole number from 0 to 4294967295"],
  ])("%j is a usage error", (text, reason) => {
    expect(() => parseHostLimit(text, "--max-concurrency", "trustplane ca install")).toThrow(UsageError);
    expect(() => parseHostLimit(text, "--max-concurrency", "trustplane ca install")).toThrow(
      new RegExp(`^trustplane ca install: --max-concurrency must be (a )?${reason.replace(/[%]/g, "%")}.*, got "${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"$`),
    );
  });

  it("turns back into the flag's syntax", () => {
    expect(hostLimitText(undefined)).toBeUndefined();
    expect(hostLimitText({ limit: { case: "count", value: 3 } } as never)).toBe("3");
    expect(hostLimitText({ limit: { case: "percent", value: 25 } } as never)).toBe("25%");
    expect(hostLimitText({ limit: { case: undefined } } as never)).toBeUndefined();
  });
});
