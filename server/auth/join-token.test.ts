import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { JoinToken } from "./join-token.js";

const TOKEN = "s3cret-join-token";
const DIGEST = createHash("sha256").update(TOKEN).digest("hex");

describe("JoinToken", () => {
  it.each<[string, string, boolean]>([
    [`${TOKEN}\n`, TOKEN, true],
    [`${TOKEN}\n`, `${TOKEN}x`, false],
    [`${TOKEN}\n`, "", false],
    [`sha256:${DIGEST}\n`, TOKEN, true],
    [`sha256:${DIGEST.toUpperCase()}`, TOKEN, true],
    [`sha256:${DIGEST}`, `sha256:${DIGEST}`, false],
    [`sha256:${DIGEST}`, "other", false],
  ])("file %j, presented %j → %s", (content, presented, accepted) => {
    expect(JoinToken.fromFileContent(content).verify(presented)).toBe(accepted);
  });

  it.each([
    ["", "join token file is empty"],
    ["  \n", "join token file is empty"],
    ["sha256:abc", "join token file: sha256: must be followed by 64 hex digits"],
  ])("refuses file content %j", (content, message) => {
    expect(() => JoinToken.fromFileContent(content)).toThrow(message);
  });
});
