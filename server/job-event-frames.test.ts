import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arbitraryMessage } from "../gateway/testing/random-message.js";
import { InstallCAResponseSchema } from "../gen/trustplane/v1/certificate_pb.js";
import { JobEventSchema, ResultStatus, type HostResult, type JobEvent } from "../gen/trustplane/v1/common_pb.js";
import { WatchJobResponseSchema } from "../gen/trustplane/v1/job_pb.js";
import { jobEventFrame } from "./job-event-frames.js";

/** The response a full encoding gives. */
function expected(event: JobEvent): Buffer {
  return Buffer.from(toBinary(InstallCAResponseSchema, create(InstallCAResponseSchema, { event })));
}

function resultEvent(result: Omit<HostResult, "$typeName" | "certificates">): JobEvent {
  return { $typeName: "trustplane.v1.JobEvent", event: { case: "result", value: { $typeName: "trustplane.v1.HostResult", certificates: [], ...result } } };
}

describe("jobEventFrame", () => {
  it("encodes results (plain objects, as Job.record makes them) as toBinary does, whatever the strings", () => {
    const text = fc.oneof(fc.string({ unit: "binary-ascii", maxLength: 300 }), fc.string({ unit: "binary", maxLength: 200 }), fc.constant(""));
    const result = fc.record({ hostname: text, status: fc.integer({ min: -3, max: 2 ** 31 - 1 }), name: text, changed: fc.boolean(), error: text });
    fc.assert(
      fc.property(result, (value) => {
        const event = resultEvent(value);
        expect(jobEventFrame(event)).toEqual(expected(event));
      }),
      { numRuns: 3000 },
    );
  });

  it("encodes every other event as toBinary does", () => {
    fc.assert(
      fc.property(arbitraryMessage(JobEventSchema), (event) => {
        expect(jobEventFrame(event as JobEvent)).toEqual(expected(event as JobEvent));
      }),
      { numRuns: 1000 },
    );
  });

  it("is also the WatchJobResponse, and is encoded once per event", () => {
    const event = resultEvent({ hostname: "web-1", status: ResultStatus.OK, name: "corp", changed: true, error: "" });
    const frame = jobEventFrame(event);
    expect(frame).toEqual(Buffer.from(toBinary(WatchJobResponseSchema, create(WatchJobResponseSchema, { event }))));
    expect(jobEventFrame(event)).toBe(frame);
  });
});
