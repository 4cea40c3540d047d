// A job's per-host results for a person (a table, or for a listing one table of
// certificates per host, then a summary line with the job id) or for a script
// (the REST answer `{job_id, results}`), and the exit code they mean.
import { hostResultJson, LIST_OPERATION, type HostResultJson } from "../../gateway/job-response.js";
import { ResultStatus, type HostResult } from "../../gen/trustplane/v1/common_pb.js";
import type { CommandIo } from "../command-io.js";
import { EXIT_FAILURE, EXIT_OK } from "../usage-error.js";
import { cell, textTable } from "./text-table.js";

export interface JobReport {
  jobId: string;
  /** In arrival order. */
  results: readonly HostResult[];
  /** Matched hosts without a result: never answered, or (while running) not yet. */
  unanswered: readonly string[];
  dryRun: boolean;
  /** Still running: hosts without a result are pending, not failures. */
  running: boolean;
}

export interface JobReportFormat {
  json: boolean;
  /** A listing: show each host's certificates. */
  certificates: boolean;
}

/** Characters of the SHA-256 fingerprint shown in a listing: its first 8 bytes. */
const FINGERPRINT_PREFIX = 23;

export function unansweredHosts(hostnames: readonly string[], results: readonly HostResult[]): string[] {
  const answered = new Set(results.map((result) => result.hostname));
  return hostnames.filter((hostname) => !answered.has(hostname));
}

function isFailure(result: HostResult): boolean {
  return result.status !== ResultStatus.OK && result.status !== ResultStatus.SKIPPED;
}

/** 0 when every host answered ok or skipped (or is pending); 1 when any failed or never answered. */
export function jobExitCode(report: JobReport): number {
  const neverAnswered = !report.running && report.unanswered.length > 0;
  return neverAnswered || report.results.some(isFailure) ? EXIT_FAILURE : EXIT_OK;
}

function unansweredWord(report: JobReport): string {
  return report.running ? "pending" : "unanswered";
}

/** The REST answer of a job route, plus `unanswered_hostnames` when there are any. */
export function jobAnswerJson(report: JobReport, certificates: boolean): Record<string, unknown> {
  const json: Record<string, unknown> = {
    job_id: report.jobId,
    results: report.results.map((result) => hostResultJson(result, { certificates })),
  };
  if (report.dryRun) json.dry_run = true;
  if (report.unanswered.length > 0) json.unanswered_hostnames = [...report.unanswered];
  return json;
}

function byHostname<T extends { hostname: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
}

export function resultsTable(report: JobReport): string {
  const rows = byHostname(report.results.map((result) => hostResultJson(result, { certificates: false }))).map(
    (result) => [result.hostname, result.status, result.changed ? "yes" : "no", cell(result.error)],
  );
  for (const hostname of [...report.unanswered].sort()) rows.push([hostname, unansweredWord(report), "-", ""]);
  return textTable(["HOSTNAME", "STATUS", "CHANGED", "ERROR"], rows);
}

/** One block per host: `hostname: status` then its certificates, indented. */
export function certificatesListing(report: JobReport): string {
  const blocks = byHostname(report.results.map((result) => hostResultJson(result, { certificates: true }))).map(
    certificateBlock,
  );
  for (const hostname of [...report.unanswered].sort()) blocks.push(`${hostname}: ${unansweredWord(report)}\n`);
  return blocks.join("\n");
}

function certificateBlock(result: HostResultJson): string {
  if (result.status !== "ok") return `${result.hostname}: ${result.status}${result.error ? `: ${cell(result.error)}` : ""}\n`;
  const certificates = result.certificates ?? [];
  const count = `${certificates.length} CA certificate${certificates.length === 1 ? "" : "s"}`;
  if (certificates.length === 0) return `${result.hostname}: ok, ${count}\n`;
  const table = textTable(
    ["SOURCE", "NAME", "SUBJECT", "NOT_AFTER", "FINGERPRINT"],
    certificates.map((certificate) => [
      certificate.source,
      cell(certificate.name),
      cell(certificate.subject),
      certificate.not_after,
      certificate.fingerprint_sha256.slice(0, FINGERPRINT_PREFIX),
    ]),
  );
  return `${result.hostname}: ok, ${count}\n${table.replace(/^(?=.)/gm, "  ")}`;
}

export function summaryLine(report: JobReport): string {
  let ok = 0;
  let failed = 0;
  let skipped = 0;
  for (const result of report.results) {
    if (result.status === ResultStatus.OK) ok++;
    else if (result.status === ResultStatus.SKIPPED) skipped++;
    else failed++;
  }
  const unanswered = report.unanswered.length > 0 ? `, ${report.unanswered.length} ${unansweredWord(report)}` : "";
  return `job ${report.jobId}: ${ok} ok, ${failed} failed, ${skipped} skipped${unanswered}${report.dryRun ? " (dry run)" : ""}\n`;
}

/** Prints the report (table or JSON) on stdout; resolves to the exit code. */
export function writeJobReport(io: CommandIo, report: JobReport, format: JobReportFormat): number {
  if (format.json) {
    io.stdout.write(`${JSON.stringify(jobAnswerJson(report, format.certificates))}\n`);
  } else {
    const body = format.certificates ? certificatesListing(report) : resultsTable(report);
    io.stdout.write(`${body}\n${summaryLine(report)}`);
  }
  return jobExitCode(report);
}
