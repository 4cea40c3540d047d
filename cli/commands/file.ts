// `trustplane file upload|list|delete`: PEM objects in the object store, through
// the gateway (FileService). JSON answers are the REST route's.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { fileInfoJson } from "../../gateway/file-info-json.js";
import { FileService } from "../../gen/trustplane/v1/file_pb.js";
import { withApiErrors } from "../client/api-error.js";
import { connectToGateway, CONNECTION_HELP, CONNECTION_OPTIONS } from "../client/gateway-connection.js";
import { textTable } from "../client/text-table.js";
import { processIo, type CommandIo } from "../command-io.js";
import { defineCommand, parseCommand, required } from "../flags.js";
import { runSubcommand, type Action } from "../subcommands.js";
import { UsageError } from "../usage-error.js";

/** Characters of a SHA-256 shown in the list (the JSON has all of it). */
const SHA256_PREFIX = 16;

const uploadSpec = defineCommand({
  name: "trustplane file upload",
  summary: "Upload a PEM file into the object store, to be installed with trustplane ca install --object NAME.",
  help: [
    ["--file PATH", "the PEM file (required)"],
    ["--name NAME", "object name, [A-Za-z0-9._-]{1,128} (default: the file's base name)"],
    ["--force", "replace different content already stored under NAME"],
    ...CONNECTION_HELP,
  ],
  options: { file: { type: "string" }, name: { type: "string" }, force: { type: "boolean", default: false }, ...CONNECTION_OPTIONS },
});

const listSpec = defineCommand({
  name: "trustplane file list",
  summary: "List the objects in the object store.",
  help: [...CONNECTION_HELP],
  options: { ...CONNECTION_OPTIONS },
});

const deleteSpec = defineCommand({
  name: "trustplane file delete",
  summary: "Delete an object from the object store (CAs installed from it stay installed).",
  args: ["NAME"],
  help: [...CONNECTION_HELP],
  options: { ...CONNECTION_OPTIONS },
});

async function upload(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(uploadSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const path = required(flags.file, "--file", uploadSpec.name);
  const name = flags.name ?? basename(path);
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`${uploadSpec.name}: cannot read --file ${path}: ${reason}`);
  }
  const files = connectToGateway(flags, io.env, uploadSpec.name).client(FileService);
  return withApiErrors(io, async () => {
    const answer = await files.upload({ name, content, force: flags.force });
    const { sha256, size } = fileInfoJson(answer.file);
    const stored = answer.file?.name || name;
    if (flags.json) {
      io.stdout.write(`${JSON.stringify({ name: stored, sha256, size, changed: answer.changed })}\n`);
    } else {
      const what = answer.changed ? "Uploaded" : "Unchanged (same content already stored):";
      io.stdout.write(`${what} ${stored}, ${size} bytes, sha256 ${sha256}\n`);
    }
    return 0;
  });
}

async function list(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(listSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const files = connectToGateway(flags, io.env, listSpec.name).client(FileService);
  return withApiErrors(io, async () => {
    const infos = (await files.list({})).files.map(fileInfoJson);
    if (flags.json) {
      io.stdout.write(`${JSON.stringify({ files: infos })}\n`);
      return 0;
    }
    const rows = infos.map((info) => [info.name, String(info.size), info.sha256.slice(0, SHA256_PREFIX), info.updated_at ?? "-"]);
    io.stdout.write(textTable(["NAME", "SIZE", "SHA256", "UPDATED"], rows));
    return 0;
  });
}

async function remove(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(deleteSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags, args } = parsed;
  const files = connectToGateway(flags, io.env, deleteSpec.name).client(FileService);
  return withApiErrors(io, async () => {
    const answer = await files.delete({ name: args[0]! });
    const info = fileInfoJson(answer.file);
    io.stdout.write(flags.json ? `${JSON.stringify(info)}\n` : `Deleted ${info.name || args[0]!}.\n`);
    return 0;
  });
}

const ACTIONS: Readonly<Record<string, Action>> = {
  upload: { summary: "upload a PEM file", run: upload },
  list: { summary: "list stored objects", run: list },
  delete: { summary: "delete an object", run: remove },
};

export function fileCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runSubcommand("trustplane file", "PEM objects in the object store (through the gateway).", ACTIONS, argv, io);
}
