// The frame of a unary client-API method: refuse while shutting down, check the API
// key and permission, run the handler, turn anything thrown into a call status, and
// write the audit line of an audited method (for every authenticated call, refused
// or not).
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "../../common/logger.js";
import { GrpcStatus, toStatusError } from "../../common/status-error.js";
import type { AuditLog } from "../audit-log.js";
import type { ApiKeyPrincipal } from "../auth/api-keys-file.js";
import type { CallAuthorizer } from "../auth/call-authorizer.js";
import type { Permission } from "../auth/permissions.js";
import { shuttingDown } from "../shutting-down.js";

export interface UnaryCallDeps {
  authorizer: CallAuthorizer;
  logger: Logger;
  /** True once the control plane is shutting down: new calls are refused. */
  isClosing: () => boolean;
  /** Where audited methods are recorded; none: not recorded (unit tests). */
  audit?: AuditLog;
}

export interface UnaryMethod<Req> {
  permission: Permission;
  /** For an audited method: what its audit line names as the target. */
  auditTarget?: (request: Req) => string;
  /**
   * Answers the request. `outcome` collects fields for the audit line (`changed`,
   * `sha256`, …); never secrets or PEM bodies.
   */
  handle(request: Req, principal: ApiKeyPrincipal, outcome: Record<string, unknown>): Promise<unknown>;
}

export function unaryCall<Req>(deps: UnaryCallDeps, spec: UnaryMethod<Req>) {
  return (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>) => {
    void (async () => {
      const startedAt = performance.now();
      let principal: ApiKeyPrincipal | undefined;
      const outcome: Record<string, unknown> = {};
      let code = GrpcStatus.OK;
      let error: string | undefined;
      try {
        if (deps.isClosing()) throw shuttingDown();
        principal = await deps.authorizer.authenticate(call);
        deps.authorizer.require(principal, spec.permission);
        callback(null, await spec.handle(call.request, principal, outcome));
      } catch (thrown) {
        const status = toStatusError(thrown);
        if (status.code === GrpcStatus.INTERNAL) deps.logger.error({ method: call.getPath(), err: status.details }, "internal error");
        code = status.code;
        error = status.message;
        callback(status.toServiceError());
      }
      if (principal && spec.auditTarget && deps.audit) {
        deps.audit.record({
          keyId: principal.id,
          keyName: principal.name,
          method: call.getPath(),
          target: spec.auditTarget(call.request),
          code: GrpcStatus[code],
          durationMs: Math.round(performance.now() - startedAt),
          peer: call.getPeer(),
          ...(error === undefined ? {} : { error }),
          ...outcome,
        });
      }
    })();
  };
}
