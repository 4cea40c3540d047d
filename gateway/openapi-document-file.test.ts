import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "./openapi-document.js";

describe("docs/openapi.json", () => {
  it("is the document the gateway serves (run `npm run docs:openapi` after changing a route)", () => {
    const committed = readFileSync(new URL("../docs/openapi.json", import.meta.url), "utf8");
    expect(committed).toBe(`${JSON.stringify(openApiDocument(), null, 2)}\n`);
  });
});
