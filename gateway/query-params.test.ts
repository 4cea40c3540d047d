import { describe, expect, it } from "vitest";
import { HttpError } from "./error-body.js";
import { boolean, oneOf, parseQuery, seconds } from "./query-params.js";

const schema = { timeout: seconds, dry_run: boolean, source: oneOf({ custom: 1, system: 2 }) };

function parse(search: string): unknown {
  try {
    return parseQuery(schema, new URLSearchParams(search));
  } catch (error) {
    if (error instanceof HttpError) return `${error.status} ${error.message}`;
    throw error;
  }
}

describe("parseQuery", () => {
  it.each([
    ["", {}],
    ["timeout=0", { timeout: 0 }],
    ["timeout=600&dry_run=true", { timeout: 600, dry_run: true }],
    ["dry_run=false&source=system", { dry_run: false, source: 2 }],
    ["timeout=4294967295", { timeout: 4294967295 }],
    ["timeout=4294967296", '400 query parameter "timeout" must be a whole number of seconds'],
    ["timeout=1.5", '400 query parameter "timeout" must be a whole number of seconds'],
    ["timeout=", '400 query parameter "timeout" must be a whole number of seconds'],
    ["timeout=%201", '400 query parameter "timeout" must be a whole number of seconds'],
    ["dry_run=1", '400 query parameter "dry_run" must be true or false'],
    ["dry_run", '400 query parameter "dry_run" must be true or false'],
    ["source=toString", '400 query parameter "source" must be one of custom, system'],
    ["constructor=1", '400 unknown query parameter "constructor"'],
    ["x=1", '400 unknown query parameter "x"'],
    ["timeout=1&timeout=1", '400 query parameter "timeout" given more than once'],
  ])("?%s → %j", (search, expected) => {
    expect(parse(search)).toEqual(expected);
  });
});
