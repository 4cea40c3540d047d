import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CommandSchema, ConnectResponseSchema } from "../gen/trustplane/v1/agent_pb.js";
import { CommandFrames } from "./command-frames.js";

describe("CommandFrames", () => {
  it.each([
    ["a small delete", 0, "7b1c2f3e-0000-4000-8000-000000000000/web-1"],
    ["a 64 KiB install", 64 * 1024, "7b1c2f3e-0000-4000-8000-000000000000/web-1"],
    ["a long id", 100, `${"x".repeat(300)}`],
  ])("encodes %s as the ConnectResponse a full encoding would give", (_case, pemBytes, commandId) => {
    const kind =
      pemBytes === 0
        ? ({ case: "deleteCa", value: { name: "corp-root" } } as const)
        : ({ case: "installCa", value: { name: "corp-root", pem: new Uint8Array(pemBytes).fill(65), sha256: "ab".repeat(32), object: "corp-ca.pem", requireExisting: true } } as const);
    const frames = new CommandFrames({ jobId: "job-1", dryRun: true, kind: create(CommandSchema, { kind }).kind });
    const frame = frames.frame(commandId);
    const decoded = fromBinary(ConnectResponseSchema, frame);
    const expected = create(ConnectResponseSchema, {
      kind: { case: "command", value: create(CommandSchema, { id: commandId, jobId: "job-1", dryRun: true, kind }) },
    });
    expect(equals(ConnectResponseSchema, decoded, expected)).toBe(true);
    // Fields in number order, as a full encoding writes them: the very same bytes.
    expect(Buffer.compare(frame, Buffer.from(toBinary(ConnectResponseSchema, expected)))).toBe(0);
  });

  it("gives every host its own id over one shared body", () => {
    const frames = new CommandFrames({ jobId: "j", dryRun: false, kind: { case: "listCa", value: create(CommandSchema, { kind: { case: "listCa", value: {} } }).kind.value as never } });
    const ids = ["j/a-1", "j/b-1"].map((id) => {
      const decoded = fromBinary(ConnectResponseSchema, frames.frame(id));
      return decoded.kind.case === "command" ? [decoded.kind.value.id, decoded.kind.value.jobId, decoded.kind.value.kind.case] : [];
    });
    expect(ids).toEqual([
      ["j/a-1", "j", "listCa"],
      ["j/b-1", "j", "listCa"],
    ]);
  });
});
