// Splitting a message with one repeated field into parts that each fit in a NATS
// message: each part decodes to the header's fields plus a consecutive run of the
// items, and the runs together are the items.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DispatchBatchSchema, type DispatchTarget } from "../../gen/trustplane/cluster/v1/cluster_pb.js";
import { CommandSchema } from "../../gen/trustplane/v1/agent_pb.js";
import { partition, splitMessage } from "./message-parts.js";

function targets(count: number): DispatchTarget[] {
  return Array.from({ length: count }, (_, i) =>
    create(DispatchBatchSchema, { targets: [{ commandId: `job-1/host-${i}.example.test`, hostname: `host-${i}.example.test` }] }).targets[0]!,
  );
}

function message(items: DispatchTarget[]): Uint8Array {
  return toBinary(
    DispatchBatchSchema,
    create(DispatchBatchSchema, { originReplicaId: "replica-a", jobId: "job-1", command: create(CommandSchema, { jobId: "job-1", dryRun: true }), targets: items }),
  );
}

const entry = (target: DispatchTarget) => toBinary(DispatchBatchSchema, create(DispatchBatchSchema, { targets: [target] }));

describe("splitMessage", () => {
  it("sends the whole message, byte for byte, when it fits", () => {
    const items = targets(10);
    const whole = message(items);
    const parts = splitMessage(items, whole, message([]), entry, whole.length);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.payload).toBe(whole);
    expect(parts[0]!.items).toEqual(items);
  });

  it("splits a message too big into parts under the limit, each a valid message with the header and a run of the items", () => {
    const items = targets(1_000);
    const whole = message(items);
    const limit = 4_096;
    const parts = splitMessage(items, whole, message([]), entry, limit);
    expect(whole.length).toBeGreaterThan(10 * limit);
    expect(parts.length).toBeGreaterThan(10);
    const seen: string[] = [];
    for (const part of parts) {
      expect(part.payload.length).toBeLessThanOrEqual(limit);
      const decoded = fromBinary(DispatchBatchSchema, part.payload);
      expect([decoded.originReplicaId, decoded.jobId, decoded.command?.dryRun]).toEqual(["replica-a", "job-1", true]);
      expect(decoded.targets.map((target) => target.hostname)).toEqual(part.items.map((target) => target.hostname));
      seen.push(...decoded.targets.map((target) => target.commandId));
    }
    expect(seen).toEqual(items.map((target) => target.commandId));
  });
});

describe("partition", () => {
  it("keeps runs within the budget, gives an oversized entry a run of its own, and always answers one run", () => {
    const bytes = (n: number) => new Uint8Array(n);
    expect(partition([], 10)).toEqual([[]]);
    expect(partition([bytes(4), bytes(4), bytes(4), bytes(20), bytes(1)], 10).map((run) => run.map((entry) => entry.length))).toEqual([[4, 4], [4], [20], [1]]);
  });
});
