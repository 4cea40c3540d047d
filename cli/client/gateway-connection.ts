// How a client command reaches the gateway: its URL and API key from flags or the
// environment, and a Connect transport (HTTP/1.1) that sends the key as a bearer
// token on every call. An https:// gateway signed by a private CA is trusted with
// --ca or $TRUSTPLANE_CA (e.g. the ca.crt of trustplane pki).
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AUTHORIZATION_METADATA_KEY } from "../../common/metadata-keys.js";
import { readPemFlagSync } from "../pem-flags.js";
import { UsageError } from "../usage-error.js";

export const DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080";

/** Flags every client command takes; spread into its `options`. */
export const CONNECTION_OPTIONS = {
  url: { type: "string" },
  "api-key": { type: "string" },
  ca: { type: "string" },
  json: { type: "boolean", default: false },
} as const;

/** Help lines for CONNECTION_OPTIONS; spread at the end of a command's `help`. */
export const CONNECTION_HELP = [
  ["--url URL", `gateway URL (default $TRUSTPLANE_URL, else ${DEFAULT_GATEWAY_URL})`],
  ["--api-key KEY", "API key (default $TRUSTPLANE_API_KEY; prefer the variable: flags show up in ps)"],
  ["--ca FILE", "trust the CA in FILE for an https:// gateway, instead of the system's roots (default $TRUSTPLANE_CA)"],
  ["--json", "print one JSON document, the shape of the REST answer"],
] as const;

export interface ConnectionFlags {
  url?: string;
  "api-key"?: string;
  ca?: string;
}

export interface GatewayConnection {
  readonly url: string;
  client<T extends DescService>(service: T): Client<T>;
}

export function connectToGateway(
  flags: ConnectionFlags,
  env: Readonly<Record<string, string | undefined>>,
  command: string,
): GatewayConnection {
  const url = flags.url || env.TRUSTPLANE_URL || DEFAULT_GATEWAY_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${command}: --url must be an http:// or https:// URL, got "${url}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError(`${command}: --url must be an http:// or https:// URL, got "${url}"`);
  }
  if (flags.ca && parsed.protocol !== "https:") {
    throw new UsageError(`${command}: --ca is for an https:// gateway URL, got "${url}"`);
  }
  const key = (flags["api-key"] || env.TRUSTPLANE_API_KEY || "").trim();
  if (!key) throw new UsageError(`${command}: no API key: give --api-key KEY or set TRUSTPLANE_API_KEY`);
  const authorization = `Bearer ${key}`;
  const bearer: Interceptor = (next) => (request) => {
    request.header.set(AUTHORIZATION_METADATA_KEY, authorization);
    return next(request);
  };
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: "1.1",
    interceptors: [bearer],
    ...(parsed.protocol === "https:" ? trustedCa(flags, env, command) : {}),
  });
  return { url, client: (service) => createClient(service, transport) };
}

/** `nodeOptions` trusting the CA of --ca or $TRUSTPLANE_CA; nothing when neither is set. */
function trustedCa(flags: ConnectionFlags, env: Readonly<Record<string, string | undefined>>, command: string) {
  const file = flags.ca || env.TRUSTPLANE_CA;
  if (!file) return {};
  return { nodeOptions: { ca: readPemFlagSync(file, flags.ca ? "--ca" : "TRUSTPLANE_CA", command, "certificate") } };
}
