// A job's rate limits (JobOptions.max_concurrency, max_errors): a number of hosts,
// absolute or as a percentage of the hosts the target matched, rounded up.
import { invalidArgument } from "../common/status-error.js";
import type { HostLimit, JobOptions } from "../gen/trustplane/v1/common_pb.js";

export const MAX_HOST_LIMIT_COUNT = 100_000;

const DETAILS = `a host limit is a count from 0 to ${MAX_HOST_LIMIT_COUNT} or a percentage from 0 to 100 of the matched hosts`;

function checkHostLimit(field: string, limit: HostLimit | undefined): void {
  switch (limit?.limit.case) {
    case "count":
      if (limit.limit.value > MAX_HOST_LIMIT_COUNT) {
        throw invalidArgument(`${field} must be at most ${MAX_HOST_LIMIT_COUNT} hosts, got ${limit.limit.value}`, DETAILS);
      }
      return;
    case "percent":
      if (limit.limit.value > 100) throw invalidArgument(`${field} must be a percentage from 0 to 100, got ${limit.limit.value}%`, DETAILS);
      return;
  }
}

/** Throws INVALID_ARGUMENT for a count above 100,000 or a percentage above 100. */
export function checkHostLimits(options: JobOptions | undefined): void {
  checkHostLimit("max_concurrency", options?.maxConcurrency);
  checkHostLimit("max_errors", options?.maxErrors);
}

/**
 * How many of `hosts` the limit allows, at least `minimum`; Infinity when unset.
 * Percentages round up: 33% of 10 hosts is 4.
 */
export function resolveHostLimit(limit: HostLimit | undefined, hosts: number, minimum: number): number {
  switch (limit?.limit.case) {
    case "count":
      return Math.max(minimum, limit.limit.value);
    case "percent":
      return Math.max(minimum, Math.ceil((hosts * limit.limit.value) / 100));
    default:
      return Number.POSITIVE_INFINITY;
  }
}
