// Turns the control plane's stream of JobEvents (a certificate job, or WatchJob
// following one) into the REST answer: one JSON body `{"job_id", "results": [...]}`
// once the job is done, or, for `Accept: application/x-ndjson`, one line per host
// as it finishes between a first line naming the hosts and a summary line. Each
// line is written (and so sent) on its own as soon as its event arrives.
import { once } from "node:events";
import type { NodeServerResponse } from "./node-handler-types.js";
import {
  CertificateSource,
  ResultStatus,
  type CertificateInfo,
  type HostResult,
  type JobEvent,
  type JobSummary,
} from "../gen/trustplane/v1/common_pb.js";
import { errorBodyFrom } from "./error-body.js";
import { writeJson } from "./json-response.js";

export const NDJSON_CONTENT_TYPE = "application/x-ndjson";

/** The operation of JobStarted and Job for a trust-store listing, whose results carry `certificates`. */
export const LIST_OPERATION = "certificate.list";

/** What every CertificateService response and WatchJobResponse is: a wrapper around one JobEvent. */
export interface JobEventResponse {
  event?: JobEvent;
}

export interface JobAnswerOptions {
  /** Put each host's trust-store listing (`certificates`) into its result; also done when the job is a listing. */
  certificates: boolean;
}

/** Told when an NDJSON answer starts and ends (the gateway's open-streams gauge). */
export interface NdjsonStreamObserver {
  ndjsonStreamOpened(): void;
  ndjsonStreamClosed(): void;
}

const STATUS_WORDS: Readonly<Record<ResultStatus, string>> = {
  [ResultStatus.UNSPECIFIED]: "failed",
  [ResultStatus.OK]: "ok",
  [ResultStatus.FAILED]: "failed",
  [ResultStatus.SKIPPED]: "skipped",
};

const SOURCE_WORDS: Readonly<Record<CertificateSource, string>> = {
  [CertificateSource.UNSPECIFIED]: "unknown",
  [CertificateSource.CUSTOM]: "custom",
  [CertificateSource.SYSTEM]: "system",
  [CertificateSource.UNMANAGED]: "unmanaged",
};

export interface CertificateJson {
  name: string;
  source: string;
  object?: string;
  sha256?: string;
  subject: string;
  fingerprint_sha256: string;
  not_after: string;
}

export interface HostResultJson {
  hostname: string;
  status: string;
  name: string;
  changed: boolean;
  error?: string;
  certificates?: CertificateJson[];
}

export function certificateJson(info: CertificateInfo): CertificateJson {
  return {
    name: info.name,
    source: SOURCE_WORDS[info.source] ?? "unknown",
    ...(info.object ? { object: info.object } : {}),
    ...(info.sha256 ? { sha256: info.sha256 } : {}),
    subject: info.subject,
    fingerprint_sha256: info.fingerprintSha256,
    not_after: info.notAfter,
  };
}

export function hostResultJson(result: HostResult, options: JobAnswerOptions): HostResultJson {
  const json: HostResultJson = {
    hostname: result.hostname,
    status: STATUS_WORDS[result.status] ?? "failed",
    name: result.name,
    changed: result.changed,
  };
  if (result.error) json.error = result.error;
  if (options.certificates) json.certificates = result.certificates.map(certificateJson);
  return json;
}

function summaryJson(jobId: string, summary: JobSummary, dryRun: boolean): Record<string, unknown> {
  const json: Record<string, unknown> = {
    job_id: summary.jobId || jobId,
    summary: { ok: summary.ok, failed: summary.failed, skipped: summary.skipped },
    duration_ms: Number(summary.durationMs),
  };
  if (dryRun || summary.dryRun) json.dry_run = true;
  return json;
}

/**
 * Writes the answer for a job stream. The first event is awaited before anything
 * is written, so an error before the job started (bad target, 401, ...) is thrown
 * to the caller, which answers with the error body. In NDJSON mode an error after
 * the first line ends the stream with an error-body line.
 */
export async function writeJobAnswer(
  responses: AsyncIterable<JobEventResponse>,
  response: NodeServerResponse,
  ndjson: boolean,
  options: JobAnswerOptions,
  signal: AbortSignal,
  streams?: NdjsonStreamObserver,
): Promise<void> {
  const iterator = responses[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (ndjson) {
    streams?.ndjsonStreamOpened();
    try {
      await streamNdjson(first, iterator, response, options, signal);
    } finally {
      streams?.ndjsonStreamClosed();
    }
  } else {
    await collectJson(first, iterator, response, options);
  }
}

async function collectJson(
  first: IteratorResult<JobEventResponse>,
  iterator: AsyncIterator<JobEventResponse>,
  response: NodeServerResponse,
  options: JobAnswerOptions,
): Promise<void> {
  let jobId = "";
  let dryRun = false;
  let resultOptions = options;
  const results: HostResultJson[] = [];
  for (let next = first; !next.done; next = await iterator.next()) {
    const event = next.value.event?.event;
    if (event?.case === "started") {
      jobId = event.value.jobId;
      dryRun ||= event.value.dryRun;
      resultOptions = optionsFor(event.value.operation, options);
    } else if (event?.case === "result") {
      results.push(hostResultJson(event.value, resultOptions));
    } else if (event?.case === "summary") {
      jobId ||= event.value.jobId;
      dryRun ||= event.value.dryRun;
    }
  }
  const body: Record<string, unknown> = { job_id: jobId, results };
  if (dryRun) body.dry_run = true;
  writeJson(response, 200, body);
}

async function streamNdjson(
  first: IteratorResult<JobEventResponse>,
  iterator: AsyncIterator<JobEventResponse>,
  response: NodeServerResponse,
  options: JobAnswerOptions,
  signal: AbortSignal,
): Promise<void> {
  response.writeHead(200, { "content-type": NDJSON_CONTENT_TYPE, "cache-control": "no-store" });
  let jobId = "";
  let dryRun = false;
  let resultOptions = options;
  try {
    for (let next = first; !next.done; next = await iterator.next()) {
      const event = next.value.event?.event;
      let line: unknown;
      if (event?.case === "started") {
        jobId = event.value.jobId;
        dryRun = event.value.dryRun;
        resultOptions = optionsFor(event.value.operation, options);
        line = dryRun
          ? { job_id: jobId, hosts: event.value.hostnames, dry_run: true }
          : { job_id: jobId, hosts: event.value.hostnames };
      } else if (event?.case === "result") {
        line = hostResultJson(event.value, resultOptions);
      } else if (event?.case === "summary") {
        line = summaryJson(jobId, event.value, dryRun);
      } else {
        continue;
      }
      await writeLine(response, line, signal);
    }
  } catch (error) {
    if (signal.aborted) return;
    await writeLine(response, errorBodyFrom(error), signal).catch(() => undefined);
  }
  response.end();
}

function optionsFor(operation: string, options: JobAnswerOptions): JobAnswerOptions {
  return operation === LIST_OPERATION && !options.certificates ? { certificates: true } : options;
}

async function writeLine(response: NodeServerResponse, value: unknown, signal: AbortSignal): Promise<void> {
  if (response.write(`${JSON.stringify(value)}\n`)) return;
  await once(response as unknown as NodeJS.EventEmitter, "drain", { signal });
}
