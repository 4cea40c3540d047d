// Debian, Ubuntu, Alpine and their derivatives: update-ca-certificates.
//
// Anchors go to /usr/local/share/ca-certificates, the distribution's CAs live under
// /usr/share/ca-certificates, the bundle is /etc/ssl/certs/ca-certificates.crt.
// With a sandbox root the tool is pointed into it with --certsconf, --certsdir,
// --localcertsdir, --etccertsdir and --hooksdir (the flags exist though --help omits
// them), so the host's trust store and hooks are never touched.
//
// `--fresh` is passed when an anchor is removed or replaced: without it the tool
// keeps stale symlinks and does not rehash. The tool also never rewrites the bundle
// when it has no certificate at all to add (it only moves a bundle it built), so
// after removing the last one the adapter writes the empty bundle itself.
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { isNotFound, writeFileAtomic } from "../atomic-file.js";
import { CommandTrustStore } from "./command-trust-store.js";
import type { RebuildReason, TrustStoreFamily } from "./trust-store.js";

const CERTS_CONF = "/etc/ca-certificates.conf";
const CERTS_DIR = "/usr/share/ca-certificates";
const LOCAL_CERTS_DIR = "/usr/local/share/ca-certificates";
const ETC_CERTS_DIR = "/etc/ssl/certs";
const HOOKS_DIR = "/etc/ca-certificates/update.d";

const IDS = new Set(["debian", "ubuntu", "alpine"]);

export const debianFamily: TrustStoreFamily = {
  name: "debian",
  matches: (osId) => IDS.has(osId),
  create: (options) =>
    new CommandTrustStore(options, {
      family: "debian",
      anchorsDir: LOCAL_CERTS_DIR,
      systemDir: CERTS_DIR,
      bundlePath: `${ETC_CERTS_DIR}/ca-certificates.crt`,
      command: "update-ca-certificates",
      args: rebuildArgs,
      prepare: prepareSandbox,
      afterRebuild: emptyBundleWhenNothingIsTrusted,
    }),
};

function rebuildArgs(reason: RebuildReason, store: CommandTrustStore): string[] {
  const args = reason === "add" ? [] : ["--fresh"];
  if (store.isSandbox) {
    args.push(
      "--certsconf", store.path(CERTS_CONF),
      "--certsdir", store.path(CERTS_DIR),
      "--localcertsdir", store.path(LOCAL_CERTS_DIR),
      "--etccertsdir", store.path(ETC_CERTS_DIR),
      "--hooksdir", store.path(HOOKS_DIR),
    );
  }
  return args;
}

/** A sandbox root may hold only etc/os-release: create the directories and the (empty) config the tool reads. */
async function prepareSandbox(store: CommandTrustStore): Promise<void> {
  if (!store.isSandbox) return;
  await mkdir(store.path(CERTS_DIR), { recursive: true });
  await mkdir(store.path(ETC_CERTS_DIR), { recursive: true });
  try {
    await stat(store.path(CERTS_CONF));
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await writeFileAtomic(store.path(CERTS_CONF), "");
  }
}

async function emptyBundleWhenNothingIsTrusted(reason: RebuildReason, store: CommandTrustStore): Promise<void> {
  if (reason !== "remove") return;
  if ((await enabledSystemCertificates(store)) > 0 || (await hasLocalCertificate(store.anchorsDir, 0))) return;
  let bundle: string;
  try {
    bundle = await readFile(store.bundlePath, "utf8");
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  if (bundle.length > 0) await writeFileAtomic(store.bundlePath, "");
}

/** Lines of ca-certificates.conf that enable an existing certificate (what the tool adds). */
async function enabledSystemCertificates(store: CommandTrustStore): Promise<number> {
  let conf: string;
  try {
    conf = await readFile(store.path(CERTS_CONF), "utf8");
  } catch (error) {
    if (isNotFound(error)) return 0;
    throw error;
  }
  let count = 0;
  for (const line of conf.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    try {
      if ((await stat(join(store.systemDir, line))).isFile()) count++;
    } catch {
      // Listed but missing: the tool skips it too.
    }
  }
  return count;
}

/** Whether any `*.crt` file lies below `dir` (the tool searches it recursively, following links). */
async function hasLocalCertificate(dir: string, depth: number): Promise<boolean> {
  if (depth > 16) return false;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    let info;
    try {
      info = await stat(path);
    } catch {
      continue;
    }
    if (info.isFile() && entry.endsWith(".crt")) return true;
    if (info.isDirectory() && (await hasLocalCertificate(path, depth + 1))) return true;
  }
  return false;
}
