// The control plane port's credentials: plaintext, TLS, or TLS with client
// certificates for agents.
//
// With a client CA, grpc-js's createSsl(ca, pairs, true) would demand a certificate
// of every client on the port — the gateway and `buf curl` included. Instead the
// port REQUESTS a client certificate and lets the handshake succeed without one
// (requestCert, rejectUnauthorized false; grpc-js's certificate-provider
// credentials): a presented certificate is verified against the client CA, and
// grpc-js reports it in `call.getAuthContext().sslPeerCertificate` only when it
// verified (`socket.authorized`). AgentService.Connect then refuses a stream without
// one; client-API calls authenticate with their API key as before.
import { createSecureContext } from "node:tls";
import { experimental, ServerCredentials } from "@grpc/grpc-js";

export interface ControlPlaneTls {
  /** PEM certificate chain of the control plane. */
  certPem: Buffer;
  /** PEM private key of that certificate. */
  keyPem: Buffer;
  /** PEM of the CA(s) that issue agents' client certificates: mutual TLS for agents. */
  clientCaPem?: Buffer;
}

/**
 * Hands fixed PEMs to grpc-js. Listeners are told on a later microtask: grpc-js
 * registers its watcher only after adding the listener, and an update delivered
 * synchronously would be lost (the port would then drop every connection).
 */
class FixedCertificates implements experimental.CertificateProvider {
  constructor(private readonly tls: ControlPlaneTls & { clientCaPem: Buffer }) {}

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    queueMicrotask(() => listener({ caCertificate: this.tls.clientCaPem }));
  }

  removeCaCertificateListener(): void {}

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    queueMicrotask(() => listener({ certificate: this.tls.certPem, privateKey: this.tls.keyPem }));
  }

  removeIdentityCertificateListener(): void {}
}

/** Throws a one-line reason when the PEMs do not make a usable TLS context. */
function checkTls(tls: ControlPlaneTls): void {
  try {
    createSecureContext({ cert: tls.certPem, key: tls.keyPem });
  } catch (error) {
    throw new Error(`control plane TLS certificate or key: ${(error as Error).message}`);
  }
  if (tls.clientCaPem) {
    if (!tls.clientCaPem.toString("latin1").includes("-----BEGIN CERTIFICATE-----")) {
      throw new Error("control plane client CA: no PEM certificate found");
    }
    try {
      createSecureContext({ ca: tls.clientCaPem });
    } catch (error) {
      throw new Error(`control plane client CA: ${(error as Error).message}`);
    }
  }
}

/** Credentials for the control plane's port: plaintext without `tls`. */
export function controlPlaneCredentials(tls: ControlPlaneTls | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  checkTls(tls);
  if (!tls.clientCaPem) return ServerCredentials.createSsl(null, [{ cert_chain: tls.certPem, private_key: tls.keyPem }], false);
  const certificates = new FixedCertificates({ ...tls, clientCaPem: tls.clientCaPem });
  // The first argument is the identity provider, the second the CA provider (grpc-js 1.14's parameter names are swapped).
  return experimental.createCertificateProviderServerCredentials(certificates, certificates, false);
}
