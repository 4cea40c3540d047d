import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { makeCa, type TestCa } from "../test/fixtures/pki.js";
import { bundleHoldsCertificate, derSha256, trustedCertificates } from "./certificate-pem.js";

describe("certificate PEM handling", () => {
  let one: TestCa;
  let two: TestCa;

  beforeAll(() => {
    one = makeCa({ commonName: "pem one" });
    two = makeCa({ commonName: "pem two" });
  });

  it("finds a certificate in a bundle whatever the line wrapping, and only that one", () => {
    const digest = derSha256(new X509Certificate(one.certPem));
    const body = one.certPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const rewrapped = `# comment\n-----BEGIN CERTIFICATE-----\n${body.match(/.{1,76}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
    expect(bundleHoldsCertificate(two.certPem + rewrapped, digest)).toBe(true);
    expect(bundleHoldsCertificate(two.certPem, digest)).toBe(false);
    expect(bundleHoldsCertificate("", digest)).toBe(false);
  });

  it("leaves distrusted objects of a p11-kit file out", () => {
    const p11kit = [
      "[p11-kit-object-v1]",
      'label: "one"',
      "trusted: true",
      one.certPem,
      "[p11-kit-object-v1]",
      'label: "two"',
      "x-distrusted: true",
      two.certPem,
    ].join("\n");
    expect(trustedCertificates(p11kit).map((c) => c.subject)).toEqual(["CN=pem one\nO=trustplane tests"]);
    expect(trustedCertificates(one.certPem + two.certPem + one.keyPem).map((c) => c.subject)).toEqual([
      "CN=pem one\nO=trustplane tests",
      "CN=pem two\nO=trustplane tests",
    ]);
  });
});
