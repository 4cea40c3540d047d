// The frame of a unary client-API method: refuse while shutting down, check the API
// key and permission, run the handler, turn anything thrown into a call status.
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "../../common/logger.js";
import { GrpcStatus, toStatusError, unavailable } from "../../common/status-error.js";
import type { ApiKeyPrincipal } from "../auth/api-keys-file.js";
import type { CallAuthorizer } from "../auth/call-authorizer.js";
import type { Permission } from "../auth/permissions.js";

export interface UnaryCallDeps {
  authorizer: CallAuthorizer;
  logger: Logger;
  /** True once the control plane is shutting down: new calls are refused. */
  isClosing: () => boolean;
}

export function unaryCall<Req>(
  deps: UnaryCallDeps,
  method: string,
  permission: Permission,
  handle: (request: Req, principal: ApiKeyPrincipal) => Promise<unknown>,
) {
  return (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>) => {
    void (async () => {
      try {
        if (deps.isClosing()) throw unavailable("control plane is shutting down");
        const principal = await deps.authorizer.authorize(call.metadata, permission);
        callback(null, await handle(call.request, principal));
      } catch (error) {
        const status = toStatusError(error);
        if (status.code === GrpcStatus.INTERNAL) deps.logger.error({ method, err: status.details }, "internal error");
        callback(status.toServiceError());
      }
    })();
  };
}
