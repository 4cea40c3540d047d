// The peer a user would pick instead of trustplane: an Ansible play that copies the
// CA into each host's trust store and runs the rebuild command where the copy
// changed something, against N sandbox roots with `connection: local`.
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChildProcessGroup } from "./child-process-group.js";
import { DEBIAN_ANCHORS_DIR } from "./sandbox-roots.js";

export interface AnsiblePlay {
  inventory: string;
  playbook: string;
  /** ANSIBLE_* settings that keep every file Ansible writes inside the bench's temp dir. */
  env: NodeJS.ProcessEnv;
}

/** Whether `ansible-playbook` is on PATH. */
export function hasAnsible(): boolean {
  try {
    execFileSync("ansible-playbook", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Installs Debian's ansible-core (apt-get update first) when ansible-playbook is missing. */
export function ensureAnsible(log: (message: string) => void): void {
  if (hasAnsible()) return;
  log("ansible-playbook is missing: apt-get update && apt-get install -y ansible-core");
  execFileSync("apt-get", ["update"], { stdio: ["ignore", "ignore", "inherit"] });
  execFileSync("apt-get", ["install", "-y", "ansible-core"], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (!hasAnsible()) throw new Error("ansible-core was installed but ansible-playbook is still not on PATH");
}

export function ansibleVersion(): string {
  return execFileSync("ansible-playbook", ["--version"], { encoding: "utf8" }).split("\n")[0]!.trim();
}

/**
 * Writes an inventory of one host per root (`root` as a host variable) and a play
 * that copies `caFile` to `<root>/usr/local/share/ca-certificates/trustplane-<name>.crt`
 * and runs `rebuild` (with TRUSTPLANE_ROOT set, and `rebuildArgs` templated with
 * `{{ root }}`) when the copy changed the file.
 */
export async function writeAnsiblePlay(dir: string, roots: readonly string[], caFile: string, name: string, rebuild: string, rebuildArgs: readonly string[] = []): Promise<AnsiblePlay> {
  await mkdir(join(dir, "home"), { recursive: true });
  await mkdir(join(dir, "tmp"), { recursive: true });
  const inventory = join(dir, "inventory.ini");
  const hosts = roots.map((root, i) => `host-${i} root=${root}`);
  await writeFile(
    inventory,
    ["[bench]", ...hosts, "", "[bench:vars]", "ansible_connection=local", "ansible_python_interpreter=/usr/bin/python3", ""].join("\n"),
  );
  const argv = [rebuild, ...rebuildArgs].map((arg) => JSON.stringify(arg)).join(", ");
  const playbook = join(dir, "install-ca.yml");
  await writeFile(
    playbook,
    [
      "- name: Install a CA into each host's trust store",
      "  hosts: bench",
      "  gather_facts: false",
      "  connection: local",
      "  tasks:",
      "    - name: Copy the CA anchor",
      "      ansible.builtin.copy:",
      `        src: ${JSON.stringify(caFile)}`,
      `        dest: "{{ root }}/${DEBIAN_ANCHORS_DIR}/trustplane-${name}.crt"`,
      '        mode: "0644"',
      "      register: anchor",
      "    - name: Rebuild the trust store",
      "      ansible.builtin.command:",
      `        argv: [${argv}]`,
      "      environment:",
      '        TRUSTPLANE_ROOT: "{{ root }}"',
      "      when: anchor.changed",
      "",
    ].join("\n"),
  );
  const env: NodeJS.ProcessEnv = {
    ANSIBLE_HOME: join(dir, "home"),
    ANSIBLE_LOCAL_TEMP: join(dir, "tmp"),
    ANSIBLE_REMOTE_TEMP: join(dir, "tmp"),
    ANSIBLE_HOST_KEY_CHECKING: "False",
    ANSIBLE_RETRY_FILES_ENABLED: "False",
    ANSIBLE_NOCOWS: "1",
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_DEPRECATION_WARNINGS: "False",
  };
  return { inventory, playbook, env };
}

/** Runs the play (default forks, or `forks`); wall seconds. Throws if a host failed. */
export async function runAnsiblePlay(group: ChildProcessGroup, play: AnsiblePlay, forks?: number): Promise<number> {
  const args = ["-i", play.inventory, play.playbook, ...(forks === undefined ? [] : ["--forks", String(forks)])];
  const started = performance.now();
  const child = group.spawn({ name: "ansible-playbook", command: "ansible-playbook", args, env: play.env });
  const { code } = await child.exited;
  const seconds = (performance.now() - started) / 1000;
  const recap = child.stdout.slice(child.stdout.lastIndexOf("PLAY RECAP"));
  if (code !== 0 || /\b(failed|unreachable)=[1-9]/.test(recap)) {
    throw new Error(`ansible-playbook exited ${code}:\n${child.stdout.slice(-3000)}\n${child.describe()}`);
  }
  return seconds;
}
