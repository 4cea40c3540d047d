import { status } from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import { StatusError } from "../common/status-error.js";
import { makeCa, makeLeaf, type TestCa } from "../test/fixtures/pki.js";
import { MAX_PEM_BYTES, validateCaPem } from "./pem-validation.js";

interface Fixtures {
  ca: TestCa;
  other: TestCa;
  notCa: TestCa;
  expired: TestCa;
  leafPem: string;
  /** The base64 body of the CA's PEM block. */
  body: string;
}

let f: Fixtures;

beforeAll(() => {
  const ca = makeCa({ commonName: "valid CA" });
  f = {
    ca,
    other: makeCa({ commonName: "other CA" }),
    notCa: makeCa({ notCa: true }),
    expired: makeCa({ expired: true }),
    leafPem: makeLeaf(ca).certPem,
    body: ca.certPem.split("\n").slice(1, -2).join("\n"),
  };
});

// One row per refusal: what, the object's content (made from the fixtures), the message.
const REFUSALS: [string, (f: Fixtures) => string | Buffer, string][] = [
  ["a CA:FALSE certificate", (f) => f.notCa.certPem, 'object "x.pem" is not a CA certificate: basic constraints CA:FALSE'],
  ["a leaf", (f) => f.leafPem, 'object "x.pem" is not a CA certificate: basic constraints CA:FALSE'],
  ["an expired CA", (f) => f.expired.certPem, 'object "x.pem" expired on 2020-01-02T00:00:00.000Z'],
  ["a CA followed by its private key", (f) => f.ca.certPem + f.ca.keyPem, 'object "x.pem" contains a PRIVATE KEY block; only one CERTIFICATE block is allowed'],
  ["a private key before the CA", (f) => f.ca.keyPem + f.ca.certPem, 'object "x.pem" contains a PRIVATE KEY block'],
  ["an EC key block", (f) => `${f.ca.certPem}-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n`, 'object "x.pem" contains a EC PRIVATE KEY block'],
  ["a bundle of two CAs", (f) => f.ca.certPem + f.other.certPem, 'object "x.pem" holds 2 certificates, expected exactly 1'],
  ["a bundle of three", (f) => f.ca.certPem + f.other.certPem + f.ca.certPem, 'object "x.pem" holds 3 certificates, expected exactly 1'],
  ["plain text", () => "hello\n", 'object "x.pem" is not PEM: no -----BEGIN CERTIFICATE----- block'],
  ["DER bytes", (f) => Buffer.from(f.body.replace(/\s+/g, ""), "base64"), 'object "x.pem" is not PEM'],
  ["a CERTIFICATE block without END", (f) => `-----BEGIN CERTIFICATE-----\n${f.body}\n`, 'object "x.pem" is not PEM: the CERTIFICATE block has no matching END line'],
  ["a CERTIFICATE block with garbage inside", () => "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n", 'object "x.pem" is not a valid X.509 certificate'],
  ["over 64 KiB", (f) => f.ca.certPem + " ".repeat(MAX_PEM_BYTES), 'object "x.pem" is larger than 64 KiB'],
];

function refusal(content: string | Buffer, now?: Date): StatusError | undefined {
  try {
    validateCaPem("x.pem", Buffer.from(content), now);
    return undefined;
  } catch (error) {
    return error as StatusError;
  }
}

describe("validateCaPem", () => {
  it("accepts one valid CA certificate, with CRLF line ends and text around it", () => {
    expect(refusal(f.ca.certPem)).toBeUndefined();
    expect(refusal(f.ca.certPem.replace(/\n/g, "\r\n"))).toBeUndefined();
    expect(refusal(`Subject: CN=valid CA\n${f.ca.certPem}\n`)).toBeUndefined();
    expect(validateCaPem("x.pem", Buffer.from(f.ca.certPem)).certificate.subject).toContain("CN=valid CA");
  });

  it.each(REFUSALS)("refuses %s with INVALID_ARGUMENT and the reason", (_what, content, message) => {
    const error = refusal(content(f));
    expect(error).toBeInstanceOf(StatusError);
    expect(error!.code).toBe(status.INVALID_ARGUMENT);
    expect(error!.message).toContain(message);
  });

  it("refuses a CA that is not valid yet", () => {
    const error = refusal(f.ca.certPem, new Date("2000-01-01T00:00:00Z"));
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.message).toMatch(/^object "x\.pem" is not valid before \d{4}-\d\d-\d\dT/);
  });

  it("refuses a CA after its expiry", () => {
    const error = refusal(f.ca.certPem, new Date("2200-01-01T00:00:00Z"));
    expect(error?.message).toMatch(/^object "x\.pem" expired on \d{4}-/);
  });
});
