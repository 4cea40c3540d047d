// Checks a client call's `authorization: Bearer <key>` against the API keys and the
// permission the method needs: UNAUTHENTICATED without a known key (logged with the
// peer's address, rate-limited), PERMISSION_DENIED when the key lacks the permission.
import type { Metadata } from "@grpc/grpc-js";
import { AUTHORIZATION_METADATA_KEY, bearerToken } from "../../common/metadata-keys.js";
import { permissionDenied, StatusError, unauthenticated } from "../../common/status-error.js";
import type { ApiKeyLookup, ApiKeyPrincipal } from "./api-keys-file.js";
import type { AuthFailureLog } from "./auth-failure-log.js";
import type { Permission } from "./permissions.js";

/** What the authorizer reads of a grpc-js server call. */
export interface CallerContext {
  readonly metadata: Metadata;
  getPeer(): string;
  getPath(): string;
}

export class CallAuthorizer {
  constructor(
    private readonly keys: ApiKeyLookup,
    private readonly failures?: AuthFailureLog,
  ) {}

  /** The caller's principal; throws UNAUTHENTICATED without a known key. */
  async authenticate(call: CallerContext): Promise<ApiKeyPrincipal> {
    const header = call.metadata.get(AUTHORIZATION_METADATA_KEY)[0];
    const key = bearerToken(typeof header === "string" ? header : undefined);
    if (!key) throw this.refused(call, unauthenticated("API key required", 'send "authorization: Bearer <api key>"'));
    const principal = await this.keys.lookup(key);
    if (!principal) throw this.refused(call, unauthenticated("unknown API key", "the key is not in the control plane's API keys file"));
    return principal;
  }

  /** Throws PERMISSION_DENIED when `principal` lacks `permission`. */
  require(principal: ApiKeyPrincipal, permission: Permission): void {
    if (!principal.permissions.has(permission)) {
      throw permissionDenied(`key "${principal.id}" lacks permission ${permission}`, `the call needs ${permission}`);
    }
  }

  /** authenticate, then require. */
  async authorize(call: CallerContext, permission: Permission): Promise<ApiKeyPrincipal> {
    const principal = await this.authenticate(call);
    this.require(principal, permission);
    return principal;
  }

  private refused(call: CallerContext, error: StatusError): StatusError {
    this.failures?.record({ peer: call.getPeer(), method: call.getPath(), reason: error.message });
    return error;
  }
}
