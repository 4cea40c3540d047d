// CertificateService: InstallCA, UpdateCA, DeleteCA, ListCA. Each call checks, in
// order: API key and permission; the request's own fields (name, target syntax,
// object name, timeout, host limits); the target against the registry; then, for install and
// update, fetches the object and validates its PEM once per job. Only then are
// commands dispatched, and the call streams the job's events. A failure on a node
// is a FAILED result, never a call error.
import { create } from "@bufbuild/protobuf";
import type { ServerWritableStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Logger } from "../../common/logger.js";
import { CA_NAME_PATTERN, isValidCaName, isValidObjectName, OBJECT_NAME_PATTERN } from "../../common/names.js";
import { GrpcStatus, invalidArgument, toStatusError } from "../../common/status-error.js";
import {
  DeleteCACommandSchema,
  InstallCACommandSchema,
  ListCACommandSchema,
} from "../../gen/trustplane/v1/agent_pb.js";
import type { DeleteCARequest, InstallCARequest, ListCARequest, UpdateCARequest } from "../../gen/trustplane/v1/certificate_pb.js";
import { JobOptionsSchema, type JobOptions } from "../../gen/trustplane/v1/common_pb.js";
import type { ApiKeyPrincipal } from "../auth/api-keys-file.js";
import type { CallAuthorizer } from "../auth/call-authorizer.js";
import type { Permission } from "../auth/permissions.js";
import type { AuditLog } from "../audit-log.js";
import { checkHostLimits } from "../host-limits.js";
import { jobEventFrame } from "../job-event-frames.js";
import { DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, type Job, type JobRequest, type JobRunner, type Operation } from "../job-runner.js";
import type { ObjectStore } from "../object-store/object-store.js";
import { validateCaPem } from "../pem-validation.js";
import type { AgentRecord } from "../registry.js";
import type { Router } from "../router.js";
import { shuttingDown } from "../shutting-down.js";
import { parseTarget } from "../target.js";

export interface CertificateServiceDeps {
  authorizer: CallAuthorizer;
  router: Router;
  objects: ObjectStore;
  jobs: JobRunner;
  logger: Logger;
  /** True once the control plane is shutting down: new jobs are refused. */
  isClosing: () => boolean;
  /** Every call with a valid key is recorded (install, update and delete change trust; list reads it). */
  audit?: AuditLog;
}

type JobPlan = Omit<JobRequest, "keyId" | "agents" | "target" | "options">;

interface CertificateRequest {
  target: string;
  options?: JobOptions;
}

/** What differs between the four methods. */
interface MethodSpec<Req extends CertificateRequest> {
  method: string;
  permission: Permission;
  /** Checks the request's own fields, before the target. */
  check(request: Req): void;
  /** The job to run once the target resolved (may fetch and validate the object). */
  plan(request: Req): Promise<JobPlan>;
}

/** Per-host answer deadline from the request's options, in ms. */
export function jobTimeoutMs(options: JobOptions | undefined): number {
  const seconds = options?.timeoutSeconds ?? 0;
  if (seconds > MAX_TIMEOUT_SECONDS) {
    throw invalidArgument(`timeout_seconds must be at most ${MAX_TIMEOUT_SECONDS}, got ${seconds}`);
  }
  return (seconds === 0 ? DEFAULT_TIMEOUT_SECONDS : seconds) * 1000;
}

function checkCaName(name: string): void {
  if (!isValidCaName(name)) {
    throw invalidArgument(
      `invalid certificate name "${name}": must match ${CA_NAME_PATTERN.source}`,
      "a certificate name is 1 to 64 letters, digits, underscores or hyphens; the anchor file is trustplane-<name>.crt",
    );
  }
}

const OBJECT_NAME_DETAILS = "an object name is 1 to 128 letters, digits, dots, underscores or hyphens, not starting with a dot";

function checkObjectName(object: string): void {
  if (object === "") throw invalidArgument("object is required", "the name of a PEM object uploaded with FileService.Upload (POST /file)");
  if (!isValidObjectName(object)) {
    throw invalidArgument(`invalid object name "${object}": must match ${OBJECT_NAME_PATTERN.source} without ".."`, OBJECT_NAME_DETAILS);
  }
}

export class CertificateService {
  private readonly install: MethodSpec<InstallCARequest>;
  private readonly update: MethodSpec<UpdateCARequest>;
  private readonly remove: MethodSpec<DeleteCARequest>;
  private readonly list: MethodSpec<ListCARequest>;

  constructor(private readonly deps: CertificateServiceDeps) {
    const checkInstall = (request: InstallCARequest | UpdateCARequest) => {
      checkCaName(request.name);
      checkObjectName(request.object);
      jobTimeoutMs(request.options);
    };
    this.install = {
      method: "InstallCA",
      permission: "certificate:write",
      check: checkInstall,
      plan: (request) => this.planInstall(request, "certificate.install", false),
    };
    this.update = {
      method: "UpdateCA",
      permission: "certificate:write",
      check: checkInstall,
      plan: (request) => this.planInstall(request, "certificate.update", true),
    };
    this.remove = {
      method: "DeleteCA",
      permission: "certificate:write",
      check: (request) => {
        checkCaName(request.name);
        jobTimeoutMs(request.options);
      },
      plan: async (request) => ({
        operation: "certificate.delete",
        command: { case: "deleteCa", value: create(DeleteCACommandSchema, { name: request.name }) },
        name: request.name,
        object: "",
        timeoutMs: jobTimeoutMs(request.options),
        dryRun: request.options?.dryRun ?? false,
      }),
    };
    this.list = {
      method: "ListCA",
      permission: "certificate:read",
      check: (request) => {
        jobTimeoutMs(request.options);
      },
      plan: async (request) => ({
        operation: "certificate.list",
        command: { case: "listCa", value: create(ListCACommandSchema, { source: request.source }) },
        name: "",
        object: "",
        timeoutMs: jobTimeoutMs(request.options),
        dryRun: request.options?.dryRun ?? false,
      }),
    };
  }

  /** grpc-js handlers, keyed by the generated method names. */
  handlers(): UntypedServiceImplementation {
    return {
      installCA: (call: ServerWritableStream<InstallCARequest, unknown>) => void this.serve(call, this.install),
      updateCA: (call: ServerWritableStream<UpdateCARequest, unknown>) => void this.serve(call, this.update),
      deleteCA: (call: ServerWritableStream<DeleteCARequest, unknown>) => void this.serve(call, this.remove),
      listCA: (call: ServerWritableStream<ListCARequest, unknown>) => void this.serve(call, this.list),
    };
  }

  /** Fetches the object and validates its PEM, once for the whole job. */
  private async planInstall(request: InstallCARequest | UpdateCARequest, operation: Operation, requireExisting: boolean): Promise<JobPlan> {
    const stored = await this.deps.objects.get(request.object);
    if (!stored) throw invalidArgument(`object "${request.object}" not found`, "upload it first with FileService.Upload (POST /file)");
    validateCaPem(request.object, stored.content);
    return {
      operation,
      command: {
        case: "installCa",
        value: create(InstallCACommandSchema, {
          name: request.name,
          pem: stored.content,
          sha256: stored.info.sha256,
          object: request.object,
          requireExisting,
        }),
      },
      name: request.name,
      object: request.object,
      timeoutMs: jobTimeoutMs(request.options),
      dryRun: request.options?.dryRun ?? false,
    };
  }

  private async serve<Req extends CertificateRequest>(call: ServerWritableStream<Req, unknown>, spec: MethodSpec<Req>): Promise<void> {
    const { deps } = this;
    const request = call.request;
    const startedAt = performance.now();
    let principal: ApiKeyPrincipal | undefined;
    let job: Job | undefined;
    let code = GrpcStatus.OK;
    let error: string | undefined;
    try {
      if (deps.isClosing()) throw shuttingDown();
      principal = await deps.authorizer.authenticate(call);
      deps.authorizer.require(principal, spec.permission);
      spec.check(request);
      checkHostLimits(request.options);
      const target = parseTarget(request.target);
      const agents: AgentRecord[] = deps.router.resolve(target, request.target);
      const plan = await spec.plan(request);
      // Checked again: the plan may have waited on the object store while close() began.
      if (deps.isClosing()) throw shuttingDown();
      const options = request.options ?? create(JobOptionsSchema);
      job = deps.jobs.start({ ...plan, target: request.target, agents, options, keyId: principal.id });
      for await (const event of job) {
        if (call.cancelled || call.destroyed) continue;
        // Every method answers {JobEvent event = 1}: one encoding per event for all of them.
        call.write(jobEventFrame(event));
      }
      if (!call.cancelled && !call.destroyed) call.end();
    } catch (thrown) {
      const status = toStatusError(thrown);
      if (status.code === GrpcStatus.INTERNAL) deps.logger.error({ method: call.getPath(), err: status.details }, "internal error");
      code = status.code;
      error = status.message;
      if (!call.cancelled && !call.destroyed) call.emit("error", status.toServiceError());
    }
    if (principal) {
      deps.audit?.record({
        keyId: principal.id,
        keyName: principal.name,
        method: call.getPath(),
        target: request.target,
        code: GrpcStatus[code],
        durationMs: Math.round(performance.now() - startedAt),
        peer: call.getPeer(),
        ...(job ? { jobId: job.id, ...job.counts } : {}),
        ...auditSubject(request),
        dryRun: request.options?.dryRun ?? false,
        ...(error === undefined ? {} : { error }),
      });
    }
  }
}

/** The CA name and object a request is about, for its audit line. */
function auditSubject(request: CertificateRequest): { name?: string; object?: string } {
  const subject: { name?: string; object?: string } = {};
  if ("name" in request && typeof request.name === "string") subject.name = request.name;
  if ("object" in request && typeof request.object === "string") subject.object = request.object;
  return subject;
}
