// Metadata (gRPC headers) understood by the control plane.

/** Operators' API key: `authorization: Bearer <key>`. */
export const AUTHORIZATION_METADATA_KEY = "authorization";

/** Agents' join token on AgentService.Connect. */
export const JOIN_TOKEN_METADATA_KEY = "x-trustplane-join-token";

export function bearerToken(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}
