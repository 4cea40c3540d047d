import { createApiKey, removeApiKey, type Role } from "../../server/auth/api-keys-file.js";
import { parseFlags, required, defineCommand } from "../flags.js";
import { UsageError } from "../usage-error.js";

const ROLES: readonly Role[] = ["read", "write", "admin"];

const createSpec = defineCommand({
  name: "trustplane keys create",
  summary: "Create an API key. The key is printed once; the keys file keeps only its SHA-256. A running control plane honours it at once.",
  help: [
    ["--role ROLE", "read | write | admin"],
    ["--permission PERM", "instead of a role, grant this permission (repeatable), e.g. certificate:read"],
    ["--name NAME", "a label for the key, shown in audit logs next to its id"],
    ["--keys-file FILE", "the control plane's API keys file (default .trustplane/api-keys.json)"],
    ["--json", "print {id, key} as JSON"],
  ],
  options: {
    role: { type: "string" },
    permission: { type: "string", multiple: true, default: [] },
    name: { type: "string" },
    "keys-file": { type: "string", default: ".trustplane/api-keys.json" },
    json: { type: "boolean", default: false },
  },
});

const removeSpec = defineCommand({
  name: "trustplane keys remove",
  summary: "Remove an API key by id. A running control plane refuses it at once.",
  help: [
    ["--id ID", "the key's id (k_...)"],
    ["--keys-file FILE", "the control plane's API keys file (default .trustplane/api-keys.json)"],
  ],
  options: {
    id: { type: "string" },
    "keys-file": { type: "string", default: ".trustplane/api-keys.json" },
  },
});

export async function keysCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action === "create") return createKey(rest);
  if (action === "remove") return removeKey(rest);
  throw new UsageError(`trustplane keys: expected "create" or "remove", got ${action ? `"${action}"` : "nothing"}`);
}

async function createKey(argv: string[]): Promise<void> {
  const flags = parseFlags(createSpec, argv);
  if (!flags) return;
  const role = flags.role as Role | undefined;
  if (role !== undefined && !ROLES.includes(role)) {
    throw new UsageError(`${createSpec.name}: --role must be one of ${ROLES.join(", ")}, got "${role}"`);
  }
  if ((role === undefined) === (flags.permission.length === 0)) {
    throw new UsageError(`${createSpec.name}: give either --role or --permission`);
  }
  const grant = role ? { role, name: flags.name } : { permissions: flags.permission, name: flags.name };
  const { id, key } = await createApiKey(flags["keys-file"], grant);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ id, key })}\n`);
  } else {
    process.stdout.write(`Created API key ${id}. It is shown only once:\n\n  ${key}\n\nUse it as: Authorization: Bearer ${key}\n`);
  }
}

async function removeKey(argv: string[]): Promise<void> {
  const flags = parseFlags(removeSpec, argv);
  if (!flags) return;
  const id = required(flags.id, "--id", removeSpec.name);
  if (!(await removeApiKey(flags["keys-file"], id))) {
    throw new UsageError(`${removeSpec.name}: no key with id "${id}" in ${flags["keys-file"]}`);
  }
  process.stdout.write(`Removed API key ${id}.\n`);
}
