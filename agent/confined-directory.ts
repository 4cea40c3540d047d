// Checks a directory the agent is about to write into (the anchors directory, the
// state directory) before anything is read or written there: a symlink planted at
// the directory itself, or at a parent so that it resolves outside the root, would
// send writes elsewhere; a file where a directory belongs would fail half-way.
import { lstat, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, relative, sep } from "node:path";
import { isNotFound } from "./atomic-file.js";

/**
 * Why writing into `dir` (labelled `what`, e.g. "anchors directory") is unsafe, or
 * undefined when it is a real directory inside `root`, or absent and creatable there.
 */
export async function confinedDirectoryProblem(root: string, dir: string, what: string): Promise<string | undefined> {
  const own = await lstatOrUndefined(dir);
  if (own?.isSymbolicLink()) return `${what} is a symlink: ${dir}`;
  if (own && !own.isDirectory()) return `${what} is not a directory: ${dir}`;
  // The directory, or its deepest existing ancestor, must resolve inside the root:
  // mkdir -p follows a symlinked parent. For root "/" everything is inside.
  const realRoot = await realpath(root);
  let existing = dir;
  for (;;) {
    let real: string;
    try {
      real = await realpath(existing);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      const parent = dirname(existing);
      if (parent === existing) return undefined;
      existing = parent;
      continue;
    }
    if (!isInside(realRoot, real)) return `${what} ${dir} resolves outside the root ${root} (through ${existing})`;
    if (existing !== dir && !(await stat(real)).isDirectory()) {
      return `${what} ${dir} cannot be created: ${existing} is not a directory`;
    }
    return undefined;
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function isInside(realRoot: string, real: string): boolean {
  const rel = relative(realRoot, real);
  return rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}
