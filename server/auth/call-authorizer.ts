// Checks a client call's `authorization: Bearer <key>` against the API keys and the
// permission the method needs: UNAUTHENTICATED without a known key, PERMISSION_DENIED
// when the key lacks the permission.
import type { Metadata } from "@grpc/grpc-js";
import { AUTHORIZATION_METADATA_KEY, bearerToken } from "../../common/metadata-keys.js";
import { permissionDenied, unauthenticated } from "../../common/status-error.js";
import type { ApiKeyLookup, ApiKeyPrincipal } from "./api-keys-file.js";
import type { Permission } from "./permissions.js";

export class CallAuthorizer {
  constructor(private readonly keys: ApiKeyLookup) {}

  /** The caller's principal; throws a StatusError when it may not call. */
  async authorize(metadata: Metadata, permission: Permission): Promise<ApiKeyPrincipal> {
    const header = metadata.get(AUTHORIZATION_METADATA_KEY)[0];
    const key = bearerToken(typeof header === "string" ? header : undefined);
    if (!key) throw unauthenticated("API key required", 'send "authorization: Bearer <api key>"');
    const principal = await this.keys.lookup(key);
    if (!principal) throw unauthenticated("unknown API key", "the key is not in the control plane's API keys file");
    if (!principal.permissions.has(permission)) {
      throw permissionDenied(`key "${principal.id}" lacks permission ${permission}`, `the call needs ${permission}`);
    }
    return principal;
  }
}
