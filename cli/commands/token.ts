// `trustplane token rotate`: a new random join token for agents, written atomically
// (0600) where the control plane reads it; a running control plane picks it up
// without a restart.
import { rotateJoinToken } from "../../server/auth/join-token.js";
import { processIo, type CommandIo } from "../command-io.js";
import { defineCommand, parseCommand } from "../flags.js";
import { runSubcommand, type Action } from "../subcommands.js";

export const DEFAULT_JOIN_TOKEN_FILE = ".trustplane/join-token";

const rotateSpec = defineCommand({
  name: "trustplane token rotate",
  summary:
    "Replace the agents' join token with a new random one. A running control plane accepts only the new token\n" +
    "for new agent streams at once (no restart); streams already connected stay connected.",
  help: [
    ["--join-token-file FILE", `the control plane's join token file (default ${DEFAULT_JOIN_TOKEN_FILE})`],
    ["--store-hash", "keep only sha256:<hex> of the token in FILE and print the token once (give it to the agents)"],
  ],
  options: {
    "join-token-file": { type: "string", default: DEFAULT_JOIN_TOKEN_FILE },
    "store-hash": { type: "boolean", default: false },
  },
});

async function rotate(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(rotateSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  const file = flags["join-token-file"];
  const token = await rotateJoinToken(file, { storeHash: flags["store-hash"] });
  io.stdout.write(
    flags["store-hash"]
      ? `Rotated the join token: ${file} now holds only its SHA-256 (mode 0600). The new token, shown only once:\n\n` +
          `  ${token}\n\nPut it in the --join-token-file of every agent.\n`
      : `Rotated the join token in ${file} (mode 0600). Copy that file to every agent as its --join-token-file.\n`,
  );
  return 0;
}

const ACTIONS: Readonly<Record<string, Action>> = {
  rotate: { summary: "replace the agents' join token with a new random one", run: rotate },
};

export function tokenCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runSubcommand("trustplane token", "The join token agents present to the control plane.", ACTIONS, argv, io);
}
