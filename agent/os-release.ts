// Reads os-release(5) under the agent's root: the facts the agent reports in its
// hello and the IDs that choose the trust-store family.
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface OsRelease {
  /** `ID`, for example "debian"; empty when unknown. */
  id: string;
  /** `ID_LIKE`, split on white space. */
  idLike: string[];
  versionId: string;
  prettyName: string;
}

/** Parses os-release text: `KEY=value`, values optionally quoted with shell escapes. */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const equals = line.indexOf("=");
    if (equals <= 0) continue;
    const key = line.slice(0, equals).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) continue;
    fields[key] = unquote(line.slice(equals + 1).trim());
  }
  return fields;
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
    const inner = value.slice(1, -1);
    // Single quotes take everything literally; double quotes allow \" \\ \$ \`.
    return quote === "'" ? inner : inner.replace(/\\(["\\$`])/g, "$1");
  }
  return value;
}

/** os-release of the tree at `root`: `<root>/etc/os-release`, else `<root>/usr/lib/os-release`. */
export async function readOsRelease(root: string): Promise<OsRelease> {
  for (const candidate of ["etc/os-release", "usr/lib/os-release"]) {
    let text: string;
    try {
      text = await readFile(join(root, candidate), "utf8");
    } catch {
      continue;
    }
    const fields = parseOsRelease(text);
    return {
      id: fields.ID ?? "",
      idLike: (fields.ID_LIKE ?? "").split(/\s+/).filter((id) => id !== ""),
      versionId: fields.VERSION_ID ?? "",
      prettyName: fields.PRETTY_NAME ?? "",
    };
  }
  return { id: "", idLike: [], versionId: "", prettyName: "" };
}
