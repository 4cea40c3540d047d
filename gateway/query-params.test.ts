import { describe, expect, it } from "vitest";
import { HttpError } from "./error-body.js";
import { boolean, hostLimit, oneOf, parseQuery, seconds, text, wholeNumber } from "./query-params.js";

const schema = {
  timeout: seconds("deadline"),
  dry_run: boolean("dry run"),
  source: oneOf({ custom: 1, system: 2 }, "source"),
  max_concurrency: hostLimit("concurrency", 1),
  max_errors: hostLimit("errors", 0),
  limit: wholeNumber("page size"),
  target: text("target"),
};

function parse(search: string): unknown {
  try {
    return parseQuery(schema, new URLSearchParams(search));
  } catch (error) {
    if (error instanceof HttpError) return `${error.status} ${error.message} (${error.details})`;
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
    ["timeout=4294967296", '400 query parameter "timeout" must be a whole number of seconds (got "4294967296")'],
    ["timeout=1.5", '400 query parameter "timeout" must be a whole number of seconds (got "1.5")'],
    ["timeout=", '400 query parameter "timeout" must be a whole number of seconds (got "")'],
    ["timeout=%201", '400 query parameter "timeout" must be a whole number of seconds (got " 1")'],
    ["dry_run=1", '400 query parameter "dry_run" must be true or false (got "1")'],
    ["dry_run", '400 query parameter "dry_run" must be true or false (got "")'],
    ["source=toString", '400 query parameter "source" must be one of custom, system (got "toString")'],
    ["constructor=1", '400 unknown query parameter "constructor" (this route takes timeout, dry_run, source, max_concurrency, max_errors, limit, target)'],
    ["x=1", '400 unknown query parameter "x" (this route takes timeout, dry_run, source, max_concurrency, max_errors, limit, target)'],
    ["timeout=1&timeout=1", '400 query parameter "timeout" given more than once (give it once)'],
    ["max_concurrency=5", { max_concurrency: { limit: { case: "count", value: 5 } } }],
    ["max_concurrency=50%25", { max_concurrency: { limit: { case: "percent", value: 50 } } }],
    ["max_concurrency=0%25", { max_concurrency: { limit: { case: "percent", value: 0 } } }],
    ["max_concurrency=100%25", { max_concurrency: { limit: { case: "percent", value: 100 } } }],
    ["max_concurrency=0", '400 query parameter "max_concurrency" must be at least 1 (got "0")'],
    ["max_concurrency=101%25", '400 query parameter "max_concurrency" must be a percentage from 0% to 100% (got "101%")'],
    ["max_errors=0", { max_errors: { limit: { case: "count", value: 0 } } }],
    ["max_errors=10%25", { max_errors: { limit: { case: "percent", value: 10 } } }],
    ["max_errors=x", '400 query parameter "max_errors" must be a number of hosts or a percentage (N or N%) (got "x")'],
    ["max_errors=%25", '400 query parameter "max_errors" must be a number of hosts or a percentage (N or N%) (got "%")'],
    ["max_errors=-1", '400 query parameter "max_errors" must be a number of hosts or a percentage (N or N%) (got "-1")'],
    ["max_errors=5%25%25", '400 query parameter "max_errors" must be a number of hosts or a percentage (N or N%) (got "5%%")'],
    ["max_errors=4294967296", '400 query parameter "max_errors" must be a number of hosts or a percentage (N or N%) (got "4294967296")'],
    ["limit=100", { limit: 100 }],
    ["limit=ten", '400 query parameter "limit" must be a whole number (got "ten")'],
    ["target=env:prod", { target: "env:prod" }],
    ["target=", '400 query parameter "target" must not be empty (leave it out instead)'],
  ])("?%s → %j", (search, expected) => {
    expect(parse(search)).toEqual(expected);
  });
});
