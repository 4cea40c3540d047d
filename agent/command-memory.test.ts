import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { type CommandResult, CommandResultSchema } from "../gen/trustplane/v1/agent_pb.js";
import { ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { CommandMemory } from "./command-memory.js";

function counter() {
  let runs = 0;
  const execute = (id: string) => () => {
    runs++;
    return Promise.resolve(create(CommandResultSchema, { commandId: id, status: ResultStatus.OK, changed: runs === 1 }));
  };
  return { execute, runs: () => runs };
}

describe("CommandMemory", () => {
  it("answers a repeated id from memory and runs distinct ids", async () => {
    const memory = new CommandMemory();
    const { execute, runs } = counter();
    const first = await memory.run("a", execute("a"));
    const again = await memory.run("a", execute("a"));
    expect(again).toBe(first);
    expect(runs()).toBe(1);
    await memory.run("b", execute("b"));
    expect(runs()).toBe(2);
  });

  it("lets a duplicate of an in-flight id wait for the same result", async () => {
    const memory = new CommandMemory();
    let finish!: (result: CommandResult) => void;
    let runs = 0;
    const slow = () => {
      runs++;
      return new Promise<CommandResult>((resolve) => (finish = resolve));
    };
    const one = memory.run("x", slow);
    const two = memory.run("x", slow);
    finish(create(CommandResultSchema, { commandId: "x", status: ResultStatus.OK }));
    expect(await two).toBe(await one);
    expect(runs).toBe(1);
  });

  it("forgets results after the TTL and beyond the capacity", async () => {
    let now = 1_000;
    const memory = new CommandMemory({ ttlMs: 100, maxEntries: 3, now: () => now });
    const { execute, runs } = counter();
    await memory.run("a", execute("a"));
    now += 101;
    await memory.run("a", execute("a"));
    expect(runs()).toBe(2);

    for (const id of ["b", "c", "d", "e"]) await memory.run(id, execute(id));
    expect(memory.size).toBe(3);
    await memory.run("e", execute("e"));
    expect(runs()).toBe(6);
    await memory.run("a", execute("a"));
    expect(runs()).toBe(7);
  });

  it("never remembers an empty id", async () => {
    const memory = new CommandMemory();
    const { execute, runs } = counter();
    await memory.run("", execute(""));
    await memory.run("", execute(""));
    expect(runs()).toBe(2);
    expect(memory.size).toBe(0);
  });
});
