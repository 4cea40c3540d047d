// Parses a target (DESIGN.md section 4): a hostname, `_any`, `_all`, or label
// selectors `key:value[,key:value…]`. Anything else is INVALID_ARGUMENT.
import { isValidHostname } from "../common/names.js";
import { invalidArgument } from "../common/status-error.js";

export const MAX_SELECTORS = 8;
const MAX_TARGET_LENGTH = 1024;

const SELECTOR_KEY = /^[A-Za-z0-9_-]+$/;
const SELECTOR_VALUE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** `key:value`: label `key` equals `value` or starts with `value.`. */
export interface Selector {
  readonly key: string;
  readonly value: string;
}

export type Target =
  | { readonly kind: "hostname"; readonly hostname: string }
  | { readonly kind: "any" }
  | { readonly kind: "all" }
  | { readonly kind: "selectors"; readonly selectors: readonly Selector[] };

const GRAMMAR =
  "a target is a hostname, _any, _all, or label selectors key:value joined by commas; keys and dot-separated value segments match [A-Za-z0-9_-]+";

function invalidTarget(text: string, reason: string) {
  return invalidArgument(`invalid target "${text}": ${reason}`, GRAMMAR);
}

export function parseTarget(text: string): Target {
  if (text === "") throw invalidArgument("target is required", GRAMMAR);
  if (text.length > MAX_TARGET_LENGTH) {
    throw invalidArgument(`invalid target: longer than ${MAX_TARGET_LENGTH} characters`, GRAMMAR);
  }
  if (text === "_any") return { kind: "any" };
  if (text === "_all") return { kind: "all" };
  if (text.includes(":")) return { kind: "selectors", selectors: parseSelectors(text) };
  if (text.includes(",")) throw invalidTarget(text, "each selector must be key:value");
  if (!isValidHostname(text)) throw invalidTarget(text, "not a valid hostname, _any, _all or key:value selector");
  return { kind: "hostname", hostname: text.toLowerCase() };
}

function parseSelectors(text: string): Selector[] {
  const parts = text.split(",");
  if (parts.length > MAX_SELECTORS) throw invalidTarget(text, `at most ${MAX_SELECTORS} selectors, got ${parts.length}`);
  return parts.map((part) => {
    const colon = part.indexOf(":");
    if (colon < 0) throw invalidTarget(text, `selector "${part}" must be key:value`);
    const key = part.slice(0, colon);
    const value = part.slice(colon + 1);
    if (!SELECTOR_KEY.test(key)) throw invalidTarget(text, `selector key "${key}" must match [A-Za-z0-9_-]+`);
    if (!SELECTOR_VALUE.test(value)) {
      throw invalidTarget(text, `selector value "${value}" must be dot-separated [A-Za-z0-9_-]+ segments`);
    }
    return { key, value };
  });
}

/** Whether a label set satisfies every selector (equal value, or a dot-separated descendant). */
export function labelsMatch(labels: Readonly<Record<string, string>>, selectors: readonly Selector[]): boolean {
  for (const { key, value } of selectors) {
    const label = labels[key];
    if (label === undefined) return false;
    if (label !== value && !(label.length > value.length && label.startsWith(value) && label.charCodeAt(value.length) === 46)) {
      return false;
    }
  }
  return true;
}
