import { describe, expect, it } from "vitest";
import { fullJitterDelay } from "./backoff.js";

describe("fullJitterDelay", () => {
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
