// `trustplane job get|list|watch`: the job record through the gateway (JobService).
// JSON documents are the REST answers of GET /job/{id} and GET /job.
import { JOB_STATE_WORDS, jobJson } from "../../gateway/job-json.js";
import { LIST_OPERATION } from "../../gateway/job-response.js";
import { JobService, JobState, type Job } from "../../gen/trustplane/v1/job_pb.js";
import { withApiErrors } from "../client/api-error.js";
import { connectToGateway, CONNECTION_HELP, CONNECTION_OPTIONS } from "../client/gateway-connection.js";
import { hostLimitText } from "../client/host-limit.js";
import { jobExitCode, writeJobReport } from "../client/job-report.js";
import { reportJobStream } from "../client/job-stream.js";
import { cell, textTable } from "../client/text-table.js";
import { processIo, type CommandIo } from "../command-io.js";
import { defineCommand, parseCommand, wholeNumber } from "../flags.js";
import { runSubcommand, type Action } from "../subcommands.js";
import { UsageError } from "../usage-error.js";

const getSpec = defineCommand({
  name: "trustplane job get",
  summary: "Show a job: what was asked, by which key, and each host's result. Exit 1 when any host failed.",
  args: ["ID"],
  help: [...CONNECTION_HELP],
  options: { ...CONNECTION_OPTIONS },
});

const watchSpec = defineCommand({
  name: "trustplane job watch",
  summary:
    "Follow a job (also one started by someone else) until it ends, with a live progress line on a terminal. Exit 1 when any host failed.",
  args: ["ID"],
  help: [...CONNECTION_HELP],
  options: { ...CONNECTION_OPTIONS },
});

const MAX_LIMIT = 100;

function isJobStateWord(word: string): word is keyof typeof JOB_STATE_WORDS {
  return Object.hasOwn(JOB_STATE_WORDS, word);
}

const listSpec = defineCommand({
  name: "trustplane job list",
  summary: "List jobs, newest first.",
  help: [
    ["--status STATE", `only jobs in this state: ${Object.keys(JOB_STATE_WORDS).join(", ")}`],
    ["--target T", "only jobs with exactly this target"],
    ["--limit N", `at most N jobs (default 20, at most ${MAX_LIMIT})`],
    ["--offset N", "skip the first N"],
    ...CONNECTION_HELP,
  ],
  options: {
    status: { type: "string" },
    target: { type: "string" },
    limit: { type: "string" },
    offset: { type: "string" },
    ...CONNECTION_OPTIONS,
  },
});

async function get(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(getSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags, args } = parsed;
  const jobs = connectToGateway(flags, io.env, getSpec.name).client(JobService);
  return withApiErrors(io, async () => {
    const { job } = await jobs.getJob({ id: args[0]! });
    if (!job) throw new Error("the gateway answered without a job");
    const report = {
      jobId: job.id,
      results: job.results,
      unanswered: job.unansweredHostnames,
      dryRun: job.options?.dryRun ?? false,
      running: job.state === JobState.RUNNING,
    };
    if (flags.json) {
      io.stdout.write(`${JSON.stringify(jobJson(job))}\n`);
      return jobExitCode(report);
    }
    io.stdout.write(jobHeader(job));
    return writeJobReport(io, report, { json: false, certificates: job.operation === LIST_OPERATION });
  });
}

function jobHeader(job: Job): string {
  const json = jobJson(job);
  const rows: [string, string | undefined][] = [
    ["operation", json.operation],
    ["target", json.target],
    ["name", json.name],
    ["object", json.object],
    ["state", json.state],
    ["requested by", json.requested_by || undefined],
    ["created", json.created_at],
    ["finished", json.finished_at],
    ["max concurrency", hostLimitText(job.options?.maxConcurrency)],
    ["max errors", hostLimitText(job.options?.maxErrors)],
    ["dry run", json.dry_run ? "yes" : undefined],
  ];
  const shown = rows.filter((row): row is [string, string] => row[1] !== undefined && row[1] !== "");
  const width = Math.max(...shown.map(([label]) => label.length));
  return `job ${job.id}\n${shown.map(([label, value]) => `  ${label.padEnd(width)}  ${cell(value)}`).join("\n")}\n\n`;
}

async function watch(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(watchSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags, args } = parsed;
  const jobs = connectToGateway(flags, io.env, watchSpec.name).client(JobService);
  return reportJobStream(io, jobs.watchJob({ id: args[0]! }), { json: flags.json });
}

async function list(argv: string[], io: CommandIo = processIo()): Promise<number> {
  const parsed = parseCommand(listSpec, argv, io.stdout);
  if (!parsed) return 0;
  const { flags } = parsed;
  let state = JobState.UNSPECIFIED;
  if (flags.status !== undefined) {
    if (!isJobStateWord(flags.status)) {
      throw new UsageError(
        `${listSpec.name}: --status must be one of ${Object.keys(JOB_STATE_WORDS).join(", ")}, got "${flags.status}"`,
      );
    }
    state = JOB_STATE_WORDS[flags.status];
  }
  const request = {
    state,
    target: flags.target ?? "",
    limit: flags.limit === undefined ? 0 : wholeNumber(flags.limit, "--limit", listSpec.name, MAX_LIMIT),
    offset: flags.offset === undefined ? 0 : wholeNumber(flags.offset, "--offset", listSpec.name),
  };
  const jobs = connectToGateway(flags, io.env, listSpec.name).client(JobService);
  return withApiErrors(io, async () => {
    const answer = await jobs.listJobs(request);
    if (flags.json) {
      io.stdout.write(`${JSON.stringify({ jobs: answer.jobs.map(jobJson), total: answer.total })}\n`);
      return 0;
    }
    const listed = answer.jobs.map(jobJson);
    const rows = listed.map((job) => [
      job.id,
      job.state,
      job.operation,
      cell(job.target),
      cell(job.name) || "-",
      String(job.summary.ok),
      String(job.summary.failed),
      String(job.summary.skipped),
      job.created_at || "-",
    ]);
    const table = textTable(["JOB_ID", "STATE", "OPERATION", "TARGET", "NAME", "OK", "FAILED", "SKIPPED", "CREATED"], rows);
    const from = request.offset > 0 ? ` from offset ${request.offset}` : "";
    io.stdout.write(`${table}\n${answer.jobs.length} of ${answer.total} jobs${from}\n`);
    return 0;
  });
}

const ACTIONS: Readonly<Record<string, Action>> = {
  get: { summary: "show a job and its per-host results", run: get },
  list: { summary: "list jobs, newest first", run: list },
  watch: { summary: "follow a job's results until it ends", run: watch },
};

export const JOB_SUMMARY = "The record of every job (through the gateway).";

export function jobCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runSubcommand("trustplane job", JOB_SUMMARY, ACTIONS, argv, io);
}
