// Chooses the trust-store family from os-release: `ID` first, then each `ID_LIKE`
// entry in order. Adding a family is one file and one line in FAMILIES.
import type { OsRelease } from "../os-release.js";
import { archFamily } from "./arch.js";
import { debianFamily } from "./debian.js";
import { rhelFamily } from "./rhel.js";
import { suseFamily } from "./suse.js";
import type { TrustStoreFamily } from "./trust-store.js";

const FAMILIES: readonly TrustStoreFamily[] = [debianFamily, rhelFamily, suseFamily, archFamily];

export function selectTrustStoreFamily(os: Pick<OsRelease, "id" | "idLike">): TrustStoreFamily | undefined {
  for (const osId of [os.id, ...os.idLike]) {
    const id = osId.toLowerCase();
    const family = FAMILIES.find((candidate) => candidate.matches(id));
    if (family) return family;
  }
  return undefined;
}

/** The answer for every command on a host without a supported trust store. */
export function unsupportedOsReason(os: Pick<OsRelease, "id">): string {
  return `unsupported OS "${os.id || "unknown"}": no known trust store`;
}
