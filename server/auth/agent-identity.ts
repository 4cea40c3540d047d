// Who an agent stream proved to be, before its hello is read. With the join token
// every agent proves the same thing (that it holds the token) and may claim any
// hostname. With a client certificate verified against the control plane's client
// CA, the agent is that certificate: it may claim only a name the certificate holds
// (its subject CN or a DNS subject alternative name, compared case-insensitively, no
// wildcards), and a second stream for an online hostname replaces the first only
// when it presents the very same certificate (SHA-256 fingerprint).
import type { PeerCertificate } from "node:tls";
import { permissionDenied, type StatusError } from "../../common/status-error.js";

export interface AgentIdentity {
  /** Compared when a second stream claims an online hostname: equal ids replace, others are refused. */
  readonly id: string;
  /** Why this identity may not claim `hostname` (already lower-case), or undefined when it may. */
  refusal(hostname: string): StatusError | undefined;
}

/** Every holder of the join token. */
export const JOIN_TOKEN_IDENTITY: AgentIdentity = {
  id: "join-token",
  refusal: () => undefined,
};

/** The subject CN and DNS SANs of a certificate, lower-case, without duplicates, CN first. */
export function certificateNames(certificate: PeerCertificate): string[] {
  const names: string[] = [];
  const add = (name: string) => {
    const lower = name.trim().toLowerCase();
    if (lower !== "" && !names.includes(lower)) names.push(lower);
  };
  const cn = certificate.subject?.CN as string | string[] | undefined;
  for (const name of Array.isArray(cn) ? cn : cn === undefined ? [] : [cn]) add(name);
  for (const entry of (certificate.subjectaltname ?? "").split(",")) {
    const trimmed = entry.trim();
    if (trimmed.startsWith("DNS:")) add(trimmed.slice("DNS:".length));
  }
  return names;
}

/** The identity of a verified client certificate. */
export function certificateIdentity(certificate: PeerCertificate): AgentIdentity {
  const names = certificateNames(certificate);
  const shown = names.length === 0 ? "no name" : names.map((name) => `"${name}"`).join(" or ");
  return {
    id: `certificate:${certificate.fingerprint256}`,
    refusal: (hostname) =>
      names.includes(hostname)
        ? undefined
        : permissionDenied(
            `agent certificate is for ${shown}, not "${hostname}"`,
            "with mutual TLS an agent may only claim a hostname its certificate names (subject CN or DNS subject alternative name)",
          ),
  };
}
