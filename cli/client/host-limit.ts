// `--max-concurrency` and `--max-errors`: a number of hosts, `N` or `N%`.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HostLimit, HostLimitSchema } from "../../gen/trustplane/v1/common_pb.js";
import { wholeNumber } from "../flags.js";
import { UsageError } from "../usage-error.js";

export type HostLimitInit = MessageInitShape<typeof HostLimitSchema>;

export function parseHostLimit(value: string, flag: string, command: string): HostLimitInit {
  const percent = /^(\d{1,3})%$/.exec(value);
  if (percent) {
    const number = Number(percent[1]);
    if (number > 100) throw new UsageError(`${command}: ${flag} must be N or N% (0% to 100%), got "${value}"`);
    return { limit: { case: "percent", value: number } };
  }
  if (!/^\d+$/.test(value)) throw new UsageError(`${command}: ${flag} must be N or N% (0% to 100%), got "${value}"`);
  return { limit: { case: "count", value: wholeNumber(value, flag, command) } };
}

/** The flag syntax back from the wire: "3", "50%", or undefined when unset. */
export function hostLimitText(limit: HostLimit | undefined): string | undefined {
  switch (limit?.limit.case) {
    case "count":
      return String(limit.limit.value);
    case "percent":
      return `${limit.limit.value}%`;
    default:
      return undefined;
  }
}
