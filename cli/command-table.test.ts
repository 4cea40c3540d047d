// The command table: `trustplane agent` with flags only is still the node agent;
// `agent list|get|forget` are client calls; help lists every command.
import { describe, expect, it } from "vitest";
import { COMMANDS, help } from "./command-table.js";
import { agentCommand } from "./commands/agent.js";
import { fleetCommand } from "./commands/fleet.js";
import { UsageError } from "./usage-error.js";

describe("trustplane agent", () => {
  it.each([[[]], [["--server", "127.0.0.1:7443"]], [["--help"]], [["--join-token-file", "list"]]])(
    "%j runs the node agent",
    async (argv) => {
      expect(await COMMANDS.agent!.load(argv)).toBe(agentCommand);
    },
  );

  it.each([[["list"]], [["get", "web-1"]], [["forget", "web-1"]]])("%j is a client call", async (argv) => {
    expect(await COMMANDS.agent!.load(argv)).toBe(fleetCommand);
  });

  it("flags only still parse as the daemon's flags", async () => {
    const run = await COMMANDS.agent!.load(["--server", "127.0.0.1:1"]);
    await expect(run(["--server", "127.0.0.1:1", "--hostname", "web-1"])).rejects.toThrow(
      new UsageError("trustplane agent: --join-token-file is required (see --help)"),
    );
    await expect(run(["--bogus"])).rejects.toThrow("trustplane agent: Unknown option '--bogus' (see --help)");
    await expect(run(["lst"])).rejects.toThrow("trustplane agent: Unexpected argument 'lst'");
  });
});

describe("trustplane --help", () => {
  it("lists the client commands and the exit codes", () => {
    const text = help();
    for (const name of ["up", "server", "gateway", "agent", "keys", "token", "pki", "ca", "job", "file"]) {
      expect(text).toMatch(new RegExp(`\\n  ${name} +\\S`));
    }
    expect(text).toContain("agent list|get|forget");
    expect(text).toContain("--ca FILE or $TRUSTPLANE_CA");
    expect(text).toContain("Exit codes: 0 ok, 1 a host failed (or another failure), 2 usage error, 3 API error.");
  });
});
