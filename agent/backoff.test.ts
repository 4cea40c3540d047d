import { describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF, fullJitterDelay } from "./backoff.js";

describe("fullJitterDelay", () => {
  it("defaults to DESIGN's figures: base 0.5 s, cap 30 s", () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 500, capMs: 30_000 });
  });

  const settings = { baseMs: 500, capMs: 30_000 };
  it.each([
    [0, 500],
    [1, 1_000],
    [5, 16_000],
    [6, 30_000],
    [60, 30_000],
    [5_000, 30_000],
  ])("attempt %i stays below %i ms", (attempt, ceiling) => {
    expect(fullJitterDelay(attempt, settings, () => 0)).toBe(0);
    expect(fullJitterDelay(attempt, settings, () => 0.5)).toBe(ceiling / 2);
    expect(fullJitterDelay(attempt, settings, () => 0.999999)).toBe(Math.floor(ceiling * 0.999999));
  });
});
