// How the agent's channel to the control plane is secured: plaintext, TLS, or
// mutual TLS with a client certificate. Built once per agent (one secure context),
// shared by every connection attempt.
import * as grpc from "@grpc/grpc-js";

export interface AgentTlsOptions {
  /** PEM of the CA(s) that signed the control plane's certificate; default: Node's built-in roots. */
  caPem?: Buffer;
  /** PEM certificate (chain) the agent presents for mutual TLS; needs `keyPem`. */
  certPem?: Buffer;
  /** PEM private key of `certPem`. */
  keyPem?: Buffer;
  /** Name checked against the control plane's certificate instead of the host of the address. */
  serverNameOverride?: string;
}

export interface AgentChannelSecurity {
  credentials: grpc.ChannelCredentials;
  /** Channel options the security adds (the server-name override). */
  channelOptions: grpc.ChannelOptions;
  /** Whether the agent presents a client certificate (then a join token is optional). */
  clientCertificate: boolean;
}

/** Plaintext without `tls`; throws on half a key pair or PEM that does not load. */
export function agentChannelSecurity(tls: AgentTlsOptions | undefined): AgentChannelSecurity {
  if (!tls) return { credentials: grpc.credentials.createInsecure(), channelOptions: {}, clientCertificate: false };
  if (Boolean(tls.certPem) !== Boolean(tls.keyPem)) {
    throw new Error("agent TLS: a client certificate needs its private key, and a key its certificate");
  }
  // createSsl builds the secure context now, so a bad PEM fails here, not at every attempt.
  const credentials = grpc.credentials.createSsl(tls.caPem ?? null, tls.keyPem ?? null, tls.certPem ?? null);
  const channelOptions: grpc.ChannelOptions = tls.serverNameOverride ? { "grpc.ssl_target_name_override": tls.serverNameOverride } : {};
  return { credentials, channelOptions, clientCertificate: Boolean(tls.certPem) };
}
