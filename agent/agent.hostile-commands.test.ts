// Property-based test: the fake control plane sends malformed and adversarial
// commands to a REAL agent (startAgent against a sandbox root, stand-in rebuild):
// bad digests, path-traversal and unicode names, huge PEMs, PEMs with extra blocks,
// random bytes, commands without a kind or with a future kind, duplicate ids,
// updates of absent CAs, list with unknown sources. For every command the agent
// answers exactly one result with the command's id — FAILED with the reason, or OK
// for a legitimate one, checked against a model — and never disconnects; a refused
// command leaves the whole temp tree byte-identical, and an accepted one writes
// only inside the anchors directory, the bundle's directory and the state file.
//
// Fixed seed, bounded runs. For a longer run (outside `npm test`):
//   TRUSTPLANE_FUZZ_RUNS=5000 npx vitest run --project unit agent/agent.hostile-commands.test.ts
// and TRUSTPLANE_FUZZ_SEED=<n> to explore other sequences (a failure prints its seed and path).
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Command,
  type CommandResult,
  CommandSchema,
  DeleteCACommandSchema,
  InstallCACommandSchema,
  ListCACommandSchema,
} from "../gen/trustplane/v1/agent_pb.js";
import { CertificateSource, ResultStatus } from "../gen/trustplane/v1/common_pb.js";
import { makeCa } from "../test/fixtures/pki.js";
import { type Agent, startAgent } from "./agent.js";
import { sha256Hex } from "./certificate-pem.js";
import { FakeControlPlane } from "./testing/fake-control-plane.js";
import { hashTree, makeStandIn, removeDir, silentLogger, type StandIn } from "./testing/sandbox-root.js";

const RUNS = positiveInteger(process.env.TRUSTPLANE_FUZZ_RUNS, 200);
const SEED = positiveInteger(process.env.TRUSTPLANE_FUZZ_SEED, 0x7a5e);
const TOKEN = "fuzz-join-token";
const MAX_PEM_BYTES = 64 * 1024;
const ANCHORS = "root/etc/pki/ca-trust/source/anchors";
const BUNDLE = "root/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem";
const STATE = "root/var/lib/trustplane/agent-state.json";
/** Tree paths (below the run's temp dir) an accepted command may create or change. */
const WRITABLE = [ANCHORS, "root/etc/pki/ca-trust/extracted", STATE];
const NAME_RULE = /^[A-Za-z0-9_-]{1,64}$/;
const KNOWN_SOURCES = new Set(Object.values(CertificateSource).filter((value) => typeof value === "number"));

/** Expected outcome of a PEM that passed the size and digest checks: valid, or the exact reason or a pattern of it. */
type PemExpectation = "valid" | string | RegExp;
interface PemCase {
  label: string;
  bytes: Buffer;
  expect: PemExpectation;
}

type Digest = "right" | "upper" | "wrong" | "empty" | { text: string };
/** `null`: a fresh id, unique in the run. */
type Id = string | null;

type Spec =
  | { kind: "install"; id: Id; name: string; pem: PemCase; digest: Digest; requireExisting: boolean; dryRun: boolean; object: string }
  | { kind: "delete"; id: Id; name: string; dryRun: boolean }
  | { kind: "list"; id: Id; source: number; dryRun: boolean }
  | { kind: "none"; id: Id; dryRun: boolean }
  | { kind: "future"; id: Id; field: number; payload: Uint8Array };

type Expected =
  | { remembered: CommandResult }
  | { status: ResultStatus.FAILED; error: string | RegExp }
  | { status: ResultStatus.OK; changed: boolean; custom?: string[] };

describe("agent under hostile commands", () => {
  let cp: FakeControlPlane;
  let standIn: StandIn;
  let pems: PemCase[];
  let validPems: PemCase[];

  beforeAll(async () => {
    cp = await new FakeControlPlane({ joinToken: TOKEN }).start();
    standIn = await makeStandIn(`/${ANCHORS.slice("root".length + 1)}`, `/${BUNDLE.slice("root".length + 1)}`);
    const one = makeCa({ commonName: "fuzz root one" });
    const two = makeCa({ commonName: "fuzz root two" });
    validPems = [
      { label: "CA one", bytes: Buffer.from(one.certPem), expect: "valid" },
      { label: "CA two", bytes: Buffer.from(two.certPem), expect: "valid" },
      { label: "CA one padded to exactly the limit", bytes: padTo(one.certPem, MAX_PEM_BYTES), expect: "valid" },
    ];
    pems = [
      ...validPems,
      { label: "two certificates", bytes: Buffer.from(one.certPem + two.certPem), expect: "PEM must hold exactly one block, a CERTIFICATE; found 2 blocks" },
      { label: "certificate and its key", bytes: Buffer.from(one.certPem + one.keyPem), expect: "PEM must hold exactly one block, a CERTIFICATE; found 2 blocks" },
      { label: "key then certificate", bytes: Buffer.from(one.keyPem + one.certPem), expect: "PEM must hold exactly one block, a CERTIFICATE; found 2 blocks" },
      {
        label: "certificate and a CRL",
        bytes: Buffer.from(`${one.certPem}-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n`),
        expect: "PEM must hold exactly one block, a CERTIFICATE; found 2 blocks",
      },
      { label: "key alone", bytes: Buffer.from(one.keyPem), expect: 'PEM block is "PRIVATE KEY", not CERTIFICATE' },
      {
        label: "trusted certificate",
        bytes: Buffer.from(one.certPem.replaceAll("CERTIFICATE", "TRUSTED CERTIFICATE")),
        expect: 'PEM block is "TRUSTED CERTIFICATE", not CERTIFICATE',
      },
      {
        label: "unicode inside the block",
        bytes: Buffer.from("-----BEGIN CERTIFICATE-----\n名前\n-----END CERTIFICATE-----\n"),
        expect: "PEM CERTIFICATE block is not terminated or holds invalid characters",
      },
      { label: "CA one one byte over the limit", bytes: padTo(one.certPem, MAX_PEM_BYTES + 1), expect: "valid" },
      { label: "huge", bytes: padTo(one.certPem, 300 * 1024), expect: "valid" },
    ];
  });

  afterAll(async () => {
    cp.stop();
    await removeDir(standIn.dir);
  });

  it(
    `answers every hostile command exactly once, FAILED with the reason, and writes nothing (${RUNS} runs, seed ${SEED})`,
    async () => {
      const pem = fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...pems) },
        {
          weight: 1,
          arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((bytes): PemCase => ({
            label: "random bytes",
            bytes: Buffer.from(bytes),
            expect: "PEM must hold exactly one block, a CERTIFICATE; found 0 blocks",
          })),
        },
        {
          weight: 1,
          arbitrary: fc.uint8Array({ minLength: 1, maxLength: 600 }).map((der): PemCase => ({
            label: "garbage in a CERTIFICATE block",
            bytes: Buffer.from(`-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64")}\n-----END CERTIFICATE-----\n`),
            expect: /^certificate does not parse: /,
          })),
        },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 1, max: 10_000 }).map((cut): PemCase => {
            const whole = validPems[0]!.bytes;
            return {
              label: "truncated certificate",
              bytes: whole.subarray(0, 1 + (cut % (whole.length - 2))),
              expect: /^(PEM must hold exactly one block, a CERTIFICATE; found 0 blocks|PEM CERTIFICATE block is not terminated or holds invalid characters|certificate does not parse: .*)$/s,
            };
          }),
        },
        { weight: 1, arbitrary: fc.constant<PemCase>({ label: "empty", bytes: Buffer.alloc(0), expect: "valid" }) },
      );
      const name = fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom("corp", "corp-2", "Root_CA") },
        {
          weight: 4,
          arbitrary: fc.constantFrom(
            "../x", "a/b", "..", ".", "%2e%2e", "%2e%2e%2fx", "名前", "", "a".repeat(65), "x\u0000y", "corp\n", " corp",
            "corp.crt", "../../../../tmp/x", "corp/../corp", "..\\x", "ｃｏｒｐ", "corp\u200b", "-", "trustplane-corp.crt",
          ),
        },
        { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 100 }) },
        { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) },
        { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom("a", "Z", "9", "_", "-", "."), minLength: 60, maxLength: 70 }) },
      );
      const id = fc.oneof(
        { weight: 6, arbitrary: fc.constant<Id>(null) },
        { weight: 3, arbitrary: fc.constantFrom<Id>("dup-a", "dup-b") },
        { weight: 1, arbitrary: fc.constant<Id>("") },
        { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
      );
      const digest = fc.oneof(
        { weight: 8, arbitrary: fc.constant<Digest>("right") },
        { weight: 1, arbitrary: fc.constantFrom<Digest>("upper", "wrong", "empty") },
        { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 80 }).map((text): Digest => ({ text })) },
      );
      const spec: fc.Arbitrary<Spec> = fc.oneof(
        {
          weight: 6,
          arbitrary: fc.record({
            kind: fc.constant("install" as const),
            id,
            name,
            pem,
            digest,
            requireExisting: fc.boolean(),
            dryRun: fc.boolean(),
            object: fc.string({ unit: "binary", maxLength: 200 }),
          }),
        },
        { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), id, name, dryRun: fc.boolean() }) },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant("list" as const),
            id,
            source: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: -5, max: 1_000 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31))),
            dryRun: fc.boolean(),
          }),
        },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("none" as const), id, dryRun: fc.boolean() }) },
        {
          weight: 1,
          arbitrary: fc.record({
            kind: fc.constant("future" as const),
            id,
            field: fc.integer({ min: 13, max: 2_000 }),
            payload: fc.uint8Array({ maxLength: 64 }),
          }),
        },
      );

      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(spec, { minLength: 1, maxLength: 8 }), (specs) => runSequence(++run, specs)),
        { seed: SEED, numRuns: RUNS },
      );
    },
    Math.max(180_000, RUNS * 1_000),
  );

  /** One fresh sandbox and agent, the commands in order, each checked against the model. */
  async function runSequence(run: number, specs: Spec[]): Promise<void> {
    const parent = await mkdtemp(join(tmpdir(), "trustplane-fuzz-"));
    const root = join(parent, "root");
    await mkdir(join(root, "etc/pki/ca-trust/source"), { recursive: true });
    await writeFile(join(root, "etc/os-release"), 'ID="rocky"\nID_LIKE="rhel centos fedora"\n');
    // Decoys a traversal would hit.
    await writeFile(join(root, "etc/pki/ca-trust/source/x.crt"), "decoy\n");
    await writeFile(join(parent, "x.crt"), "decoy\n");
    await mkdir(join(parent, "outside"));
    await writeFile(join(parent, "outside/trustplane-corp.crt"), "decoy\n");

    const agent: Agent = startAgent({
      servers: [cp.address],
      hostname: "fuzz-1",
      labels: {},
      root,
      joinToken: TOKEN,
      updateCommand: standIn.command,
      version: "0.0.0-fuzz",
      logger: silentLogger,
      backoff: { baseMs: 5, capMs: 40 },
    });
    const disconnects: unknown[] = [];
    agent.on("disconnected", (event) => disconnects.push(event));
    try {
      await agent.waitConnected(10_000);
      const installed = new Map<string, Buffer>();
      const remembered = new Map<string, CommandResult>();
      let fresh = 0;
      for (const current of specs) {
        const commandId = wire(current.id ?? `u-${run}-${++fresh}`);
        const expected = expectation(current, commandId, installed, remembered);
        const before = await hashTree(parent);
        send(current, commandId);
        const result = await cp.nextResult(10_000).catch((error: Error) => {
          throw new Error(`${error.message}: ${describeSpec(current)}`);
        });
        const after = await hashTree(parent);

        const context = describeSpec(current);
        expect(result.commandId, context).toBe(commandId);
        if ("remembered" in expected) {
          expect(result, context).toEqual(expected.remembered);
          expect(after, context).toEqual(before);
          continue;
        }
        expect(ResultStatus[result.status], `${context}: ${result.error}`).toBe(ResultStatus[expected.status]);
        if (expected.status === ResultStatus.FAILED) {
          expect(result.changed, context).toBe(false);
          if (typeof expected.error === "string") expect(result.error, context).toBe(expected.error);
          else expect(result.error, context).toMatch(expected.error);
          expect(after, context).toEqual(before);
        } else {
          expect(result.error, context).toBe("");
          expect(result.changed, context).toBe(expected.changed);
          if (expected.custom) expect(result.certificates.map((c) => c.name).sort(), context).toEqual(expected.custom);
          else if (current.kind === "list") expect(result.certificates, context).toEqual([]);
          if (current.kind === "list" || ("dryRun" in current && current.dryRun)) expect(after, context).toEqual(before);
          else expect(changedPaths(before, after).filter((path) => !mayWrite(path)), context).toEqual([]);
        }
        if (commandId !== "") remembered.set(commandId, result);
      }

      // Exactly one result per command: the next one is the sentinel's.
      const sentinel = create(CommandSchema, { id: `sentinel-${run}`, kind: { case: "listCa", value: create(ListCACommandSchema, {}) } });
      cp.send(sentinel);
      expect((await cp.nextResult(10_000)).commandId).toBe(sentinel.id);
      expect(cp.pendingResults).toBe(0);
      expect(disconnects).toEqual([]);
      // The anchors directory holds exactly the model's CAs, byte for byte.
      const anchors = join(parent, ANCHORS);
      const files = (await readdir(anchors).catch(() => [])).sort();
      expect(files).toEqual([...installed.keys()].map((n) => `trustplane-${n}.crt`).sort());
      for (const [n, bytes] of installed) expect(await readFile(join(anchors, `trustplane-${n}.crt`))).toEqual(bytes);
    } finally {
      await agent.stop();
      await removeDir(parent);
    }
  }

  function send(spec: Spec, commandId: string): void {
    if (spec.kind === "future") {
      cp.sendCommandBytes(futureCommandBytes(commandId, spec.field, spec.payload));
      return;
    }
    cp.send(command(spec, commandId));
  }
});

function command(spec: Exclude<Spec, { kind: "future" }>, id: string): Command {
  switch (spec.kind) {
    case "install":
      return create(CommandSchema, {
        id,
        jobId: "fuzz",
        dryRun: spec.dryRun,
        kind: {
          case: "installCa",
          value: create(InstallCACommandSchema, {
            name: spec.name,
            pem: spec.pem.bytes,
            sha256: digestText(spec.digest, spec.pem.bytes),
            object: spec.object,
            requireExisting: spec.requireExisting,
          }),
        },
      });
    case "delete":
      return create(CommandSchema, { id, dryRun: spec.dryRun, kind: { case: "deleteCa", value: create(DeleteCACommandSchema, { name: spec.name }) } });
    case "list":
      return create(CommandSchema, { id, dryRun: spec.dryRun, kind: { case: "listCa", value: create(ListCACommandSchema, { source: spec.source }) } });
    case "none":
      return create(CommandSchema, { id, dryRun: spec.dryRun });
  }
}

/** The model: what the agent must answer, given what it installed and answered before. Updates the model. */
function expectation(spec: Spec, id: string, installed: Map<string, Buffer>, remembered: Map<string, CommandResult>): Expected {
  const known = id === "" ? undefined : remembered.get(id);
  if (known) return { remembered: known };
  const failed = (error: string | RegExp): Expected => ({
    status: ResultStatus.FAILED,
    error: typeof error === "string" ? wire(error) : error,
  });
  switch (spec.kind) {
    case "none":
    case "future":
      return failed("unsupported command");
    case "list": {
      if (!KNOWN_SOURCES.has(spec.source)) return failed(`unknown certificate source ${spec.source}`);
      const listsCustom = spec.source === CertificateSource.UNSPECIFIED || spec.source === CertificateSource.CUSTOM;
      return { status: ResultStatus.OK, changed: false, custom: listsCustom ? [...installed.keys()].sort() : undefined };
    }
    case "delete": {
      const name = wire(spec.name);
      if (!NAME_RULE.test(name)) return failed(invalidName(name));
      const changed = installed.has(name);
      if (!spec.dryRun) installed.delete(name);
      return { status: ResultStatus.OK, changed };
    }
    case "install": {
      const name = wire(spec.name);
      if (!NAME_RULE.test(name)) return failed(invalidName(name));
      const bytes = spec.pem.bytes;
      if (bytes.length === 0) return failed("PEM is empty");
      if (bytes.length > MAX_PEM_BYTES) return failed(`PEM is ${bytes.length} bytes, more than the limit of ${MAX_PEM_BYTES}`);
      const sent = wire(digestText(spec.digest, bytes));
      const actual = sha256Hex(bytes);
      if (sent.toLowerCase() !== actual) return failed(`PEM SHA-256 mismatch: command says ${sent || "(empty)"}, bytes hash to ${actual}`);
      if (spec.pem.expect !== "valid") return failed(spec.pem.expect);
      const previous = installed.get(name);
      if (spec.requireExisting && !previous) return failed(`certificate "${name}" is not installed`);
      const changed = !previous || !previous.equals(bytes);
      if (!spec.dryRun) installed.set(name, bytes);
      return { status: ResultStatus.OK, changed };
    }
  }
}

function invalidName(name: string): string {
  return `invalid CA name "${name.slice(0, 80)}": must match ^[A-Za-z0-9_-]{1,64}$`;
}

function digestText(digest: Digest, bytes: Uint8Array): string {
  if (typeof digest === "object") return digest.text;
  switch (digest) {
    case "right":
      return sha256Hex(bytes);
    case "upper":
      return sha256Hex(bytes).toUpperCase();
    case "wrong":
      return sha256Hex(Buffer.concat([bytes, Buffer.from("x")]));
    case "empty":
      return "";
  }
}

/** A string as it arrives after protobuf's UTF-8 encoding (lone surrogates become U+FFFD). */
function wire(text: string): string {
  return Buffer.from(text, "utf8").toString("utf8");
}

/** A Command with `id` and a field this agent does not know (a kind from a newer control plane). */
function futureCommandBytes(id: string, field: number, payload: Uint8Array): Uint8Array {
  const known = toBinary(CommandSchema, create(CommandSchema, { id }));
  return Buffer.concat([known, varint((field << 3) | 2), varint(payload.length), payload]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

function padTo(pem: string, size: number): Buffer {
  return Buffer.concat([Buffer.from(pem), Buffer.alloc(size - Buffer.byteLength(pem), "#")]);
}

function changedPaths(before: Record<string, string>, after: Record<string, string>): string[] {
  const paths = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...paths].filter((path) => before[path] !== after[path]).sort();
}

/** Inside a writable place, or a directory on the way to one (created by the first install). */
function mayWrite(path: string): boolean {
  return WRITABLE.some((place) => path === place || path.startsWith(`${place}/`) || place.startsWith(`${path}/`));
}

function describeSpec(spec: Spec): string {
  const { id, ...rest } = spec;
  const shown = Object.entries(rest).map(([key, value]) => {
    if (key === "pem") return `pem=${(value as PemCase).label} (${(value as PemCase).bytes.length} bytes)`;
    if (value instanceof Uint8Array) return `${key}=<${value.length} bytes>`;
    return `${key}=${JSON.stringify(value)}`;
  });
  return `${spec.kind} id=${JSON.stringify(id)} ${shown.join(" ")}`;
}

function positiveInteger(text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`expected a positive integer, got "${text}"`);
  return value;
}
