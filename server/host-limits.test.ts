import { create } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { HostLimitSchema, JobOptionsSchema, type HostLimit } from "../gen/trustplane/v1/common_pb.js";
import { checkHostLimits, resolveHostLimit } from "./host-limits.js";

const count = (value: number) => create(HostLimitSchema, { limit: { case: "count", value } });
const percent = (value: number) => create(HostLimitSchema, { limit: { case: "percent", value } });

describe("resolveHostLimit", () => {
  it.each<[string, HostLimit | undefined, number, number, number]>([
    ["unset", undefined, 10, 1, Number.POSITIVE_INFINITY],
    ["an empty limit", create(HostLimitSchema), 10, 0, Number.POSITIVE_INFINITY],
    ["count 3", count(3), 10, 1, 3],
    ["count 0 for concurrency", count(0), 10, 1, 1],
    ["count 0 for errors", count(0), 10, 0, 0],
    ["count above the hosts", count(50), 10, 1, 50],
    ["50% of 3", percent(50), 3, 1, 2],
    ["33% of 10", percent(33), 10, 1, 4],
    ["30% of 10", percent(30), 10, 0, 3],
    ["1% of 10", percent(1), 10, 0, 1],
    ["0% for concurrency", percent(0), 10, 1, 1],
    ["0% for errors", percent(0), 10, 0, 0],
    ["100% of 7", percent(100), 7, 1, 7],
  ])("%s → %d", (_case, limit, hosts, minimum, expected) => {
    expect(resolveHostLimit(limit, hosts, minimum)).toBe(expected);
  });
});

describe("checkHostLimits", () => {
  it.each<[string, Parameters<typeof create<typeof JobOptionsSchema>>[1], string | undefined]>([
    ["no options", {}, undefined],
    ["count 100000", { maxConcurrency: count(100_000) }, undefined],
    ["percent 100 and 0", { maxConcurrency: percent(100), maxErrors: percent(0) }, undefined],
    ["count 100001", { maxConcurrency: count(100_001) }, "max_concurrency must be at most 100000 hosts, got 100001"],
    ["percent 101 errors", { maxErrors: percent(101) }, "max_errors must be a percentage from 0 to 100, got 101%"],
  ])("%s", (_case, init, message) => {
    const check = () => checkHostLimits(create(JobOptionsSchema, init));
    if (message === undefined) expect(check).not.toThrow();
    else expect(check).toThrow(expect.objectContaining({ code: status.INVALID_ARGUMENT, message }));
  });
});
