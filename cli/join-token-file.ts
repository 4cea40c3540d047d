// The agent's side of `--join-token-file`: the file holds the token itself.
import { readFile } from "node:fs/promises";
import { UsageError } from "./usage-error.js";

export async function readJoinToken(file: string, command: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`${command}: cannot read --join-token-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const token = text.trim();
  if (!token) throw new UsageError(`${command}: --join-token-file ${file} is empty`);
  if (token.startsWith("sha256:")) {
    throw new UsageError(`${command}: --join-token-file ${file} holds a hash; an agent needs the token itself`);
  }
  return token;
}
