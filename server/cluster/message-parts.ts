// Messages between replicas that could outgrow one NATS message (the server's
// max_payload, 1 MiB by default): a presence of tens of thousands of agents, a
// dispatch batch or a result batch for as many hosts.
//
// Protobuf's concatenation rule makes splitting exact and cheap: the encoding of a
// message followed by the encoding of another is the encoding of their merge, and a
// repeated field's entries append. So each entry of the repeated field is encoded on
// its own (as a one-entry message of the same type: tag, length, entry), and a part
// is a header message's bytes (the other fields) followed by as many entries as fit.
import type { NatsConnection } from "nats";

/** NATS's own default, used until the server said what it takes. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The largest message `nats`'s server takes. */
export function maxPayload(nats: NatsConnection): number {
  return nats.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
}

/**
 * Consecutive runs of `entries` of at most `budget` bytes each (at least one run,
 * maybe empty). An entry larger than the budget gets a run of its own; NATS refuses
 * it when it is published, which the sender reports.
 */
export function partition(entries: readonly Uint8Array[], budget: number): Uint8Array[][] {
  const parts: Uint8Array[][] = [[]];
  let size = 0;
  for (const entry of entries) {
    let current = parts[parts.length - 1]!;
    if (current.length > 0 && size + entry.length > budget) {
      current = [];
      parts.push(current);
      size = 0;
    }
    current.push(entry);
    size += entry.length;
  }
  return parts;
}

export interface MessagePart<T> {
  /** The items this part carries, in order. */
  items: T[];
  payload: Uint8Array;
}

/**
 * A message with one repeated field of `items`, as parts of at most `maxBytes` each:
 * `whole` when it fits (the common case, encoded once), else `header` (the message
 * without the items) followed by each item's `entry`, as many per part as fit.
 */
export function splitMessage<T>(
  items: readonly T[],
  whole: Uint8Array,
  header: Uint8Array,
  entry: (item: T) => Uint8Array,
  maxBytes: number,
): MessagePart<T>[] {
  if (whole.length <= maxBytes) return [{ items: [...items], payload: whole }];
  const parts: MessagePart<T>[] = [];
  let offset = 0;
  for (const entries of partition(items.map(entry), maxBytes - header.length)) {
    parts.push({ items: items.slice(offset, offset + entries.length), payload: Buffer.concat([header, ...entries]) });
    offset += entries.length;
  }
  return parts;
}
