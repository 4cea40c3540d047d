import { describe, expect, it } from "vitest";
import { ERROR_DETAILS_METADATA_KEY, GrpcStatus, invalidArgument, toStatusError } from "./status-error.js";

describe("StatusError", () => {
  it("carries its code, message and details as a grpc-js service error", () => {
    const error = invalidArgument('invalid certificate name "../x"', "names match ^[A-Za-z0-9_-]{1,64}$").toServiceError();
    expect(error.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(error.details).toBe('invalid certificate name "../x"');
    expect(error.metadata.get(ERROR_DETAILS_METADATA_KEY)).toEqual(["names match ^[A-Za-z0-9_-]{1,64}$"]);
  });

  it("escapes details that gRPC metadata cannot carry (non-ASCII, control characters)", () => {
    const error = invalidArgument("bad", "host 名前\nend").toServiceError();
    expect(error.metadata.get(ERROR_DETAILS_METADATA_KEY)).toEqual(["host \\u540d\\u524d\\u000aend"]);
  });

  it("turns unknown faults into INTERNAL without leaking them into the message", () => {
    const error = toStatusError(new Error("ECONNRESET at /internal/path"));
    expect(error.code).toBe(GrpcStatus.INTERNAL);
    expect(error.message).toBe("internal error");
  });
});
