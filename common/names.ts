// Validation of names shared by the control plane, the agent and the gateway.

/** A CA name: the anchor file is `trustplane-<name>.crt`. */
export const CA_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** An object-store name such as `corp-ca.pem`. */
export const OBJECT_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** RFC 1123 host name, at most 253 characters. */
const HOSTNAME_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
export const MAX_HOSTNAME_LENGTH = 253;

/** Label keys and value segments: `env`, `web.dev.us-east`. */
export const LABEL_KEY_PATTERN = /^[A-Za-z0-9_-]{1,63}$/;
export const LABEL_VALUE_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const MAX_LABEL_VALUE_LENGTH = 63;
export const MAX_LABELS = 16;

export function isValidCaName(name: string): boolean {
  return CA_NAME_PATTERN.test(name);
}

export function isValidObjectName(name: string): boolean {
  return OBJECT_NAME_PATTERN.test(name) && !name.includes("..");
}

export function isValidHostname(hostname: string): boolean {
  if (hostname.length === 0 || hostname.length > MAX_HOSTNAME_LENGTH) return false;
  return hostname.split(".").every((label) => HOSTNAME_LABEL.test(label));
}

/** Why a label set is invalid, or undefined when it is fine. */
export function labelsProblem(labels: Record<string, string>): string | undefined {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) return `at most ${MAX_LABELS} labels, got ${entries.length}`;
  for (const [key, value] of entries) {
    if (!LABEL_KEY_PATTERN.test(key)) return `label key "${key}" must match ${LABEL_KEY_PATTERN.source}`;
    if (value.length > MAX_LABEL_VALUE_LENGTH || !LABEL_VALUE_PATTERN.test(value)) {
      return `label "${key}" value "${value}" must be dot-separated [A-Za-z0-9_-]+ segments, at most ${MAX_LABEL_VALUE_LENGTH} characters`;
    }
  }
  return undefined;
}

/** Parses `k:v` flags into a label map; throws with a one-line reason. */
export function parseLabelFlags(flags: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const flag of flags) {
    const colon = flag.indexOf(":");
    if (colon <= 0) throw new Error(`label "${flag}" must be key:value`);
    labels[flag.slice(0, colon)] = flag.slice(colon + 1);
  }
  const problem = labelsProblem(labels);
  if (problem) throw new Error(problem);
  return labels;
}
