import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HttpError, errorBodyFrom, grpcCodeName, httpStatusForCode } from "./error-body.js";

describe("httpStatusForCode", () => {
  it.each([
    [Code.InvalidArgument, "bad target", 400],
    [Code.FailedPrecondition, "x", 400],
    [Code.OutOfRange, "x", 400],
    [Code.Unauthenticated, "x", 401],
    [Code.PermissionDenied, "x", 403],
    [Code.NotFound, "x", 404],
    [Code.AlreadyExists, "x", 409],
    [Code.ResourceExhausted, "Received message larger than max (5 vs 4)", 413],
    [Code.ResourceExhausted, "too many requests", 429],
    [Code.Unavailable, "x", 503],
    [Code.DeadlineExceeded, "x", 504],
    [Code.Unimplemented, "x", 501],
    [Code.Internal, "x", 500],
    [Code.Unknown, "x", 500],
    [Code.Canceled, "x", 500],
    [Code.Aborted, "x", 500],
    [Code.DataLoss, "x", 500],
  ])("%s (%s) is %i", (code, message, status) => {
    expect(httpStatusForCode(code, message)).toBe(status);
  });
});

describe("grpcCodeName", () => {
  it.each([
    [Code.InvalidArgument, "INVALID_ARGUMENT"],
    [Code.Canceled, "CANCELLED"],
    [Code.DeadlineExceeded, "DEADLINE_EXCEEDED"],
    [Code.Unauthenticated, "UNAUTHENTICATED"],
  ])("%s is %s", (code, name) => {
    expect(grpcCodeName(code)).toBe(name);
  });
});

describe("errorBodyFrom", () => {
  it("takes the details from the control plane's metadata", () => {
    const error = new ConnectError("bad name", Code.InvalidArgument, {
      "grpc-status": "3",
      "trustplane-error-details": "must match ^[A-Za-z0-9_-]{1,64}$",
    });
    expect(errorBodyFrom(error)).toEqual({ error: "bad name", details: "must match ^[A-Za-z0-9_-]{1,64}$", code: 400 });
  });

  it("names the code when there are no details", () => {
    const error = new ConnectError("no key", Code.Unauthenticated, { "grpc-status": "16" });
    expect(errorBodyFrom(error)).toEqual({ error: "no key", details: "control plane answered UNAUTHENTICATED", code: 401 });
  });

  it("an UNAVAILABLE the control plane sent keeps its message", () => {
    const error = new ConnectError("object store unreachable", Code.Unavailable, { "grpc-status": "14" });
    expect(errorBodyFrom(error)).toEqual({
      error: "object store unreachable",
      details: "control plane answered UNAVAILABLE",
      code: 503,
    });
  });

  it("a call that never got a gRPC status is control plane unavailable", () => {
    const error = new ConnectError("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable);
    expect(errorBodyFrom(error)).toEqual({
      error: "control plane unavailable",
      details: "the gateway cannot reach the control plane: connect ECONNREFUSED 127.0.0.1:1",
      code: 503,
    });
  });

  it("an HttpError is its own body", () => {
    expect(errorBodyFrom(new HttpError(413, "request body too large", "at most 1 byte"))).toEqual({
      error: "request body too large",
      details: "at most 1 byte",
      code: 413,
    });
  });

  it("anything else is a 500 without internals", () => {
    expect(errorBodyFrom(new TypeError("cannot read properties of undefined (reading 'x')"))).toEqual({
      error: "internal error",
      details: "the gateway failed to handle the request",
      code: 500,
    });
  });
});
