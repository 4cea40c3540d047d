// Raw grpc-js clients of the control plane's client API, for tests: no gateway, no
// Connect, just the wire contract.
import { credentials, makeGenericClientConstructor, Metadata, type Client, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../common/grpc-service-definition.js";
import { ERROR_DETAILS_METADATA_KEY } from "../../common/status-error.js";
import { CertificateService } from "../../gen/trustplane/v1/certificate_pb.js";
import type { JobEvent } from "../../gen/trustplane/v1/common_pb.js";
import { FileService } from "../../gen/trustplane/v1/file_pb.js";

type AnyClient = Client & Record<string, (...args: unknown[]) => unknown>;

export function certificateClient(address: string): AnyClient {
  const Constructor = makeGenericClientConstructor(grpcServiceDefinition(CertificateService), "CertificateService");
  return new Constructor(address, credentials.createInsecure()) as unknown as AnyClient;
}

export function fileClient(address: string): AnyClient {
  const Constructor = makeGenericClientConstructor(grpcServiceDefinition(FileService), "FileService");
  return new Constructor(address, credentials.createInsecure()) as unknown as AnyClient;
}

export function withKey(key: string | undefined): Metadata {
  const metadata = new Metadata();
  if (key !== undefined) metadata.set("authorization", `Bearer ${key}`);
  return metadata;
}

export interface CallError {
  code: number;
  message: string;
  details: string;
}

function callError(error: ServiceError | StatusObject): CallError {
  return {
    code: error.code,
    message: error.details,
    details: String(error.metadata?.get(ERROR_DETAILS_METADATA_KEY)[0] ?? ""),
  };
}

/** Runs a server-streaming certificate method; the job's events, or the call error. */
export function streamJob(
  client: AnyClient,
  method: "installCA" | "updateCA" | "deleteCA" | "listCA",
  request: unknown,
  key: string | undefined,
): Promise<{ events: JobEvent[]; error?: CallError }> {
  return new Promise((resolve) => {
    const events: JobEvent[] = [];
    const call = client[method]!(request, withKey(key)) as NodeJS.EventEmitter;
    call.on("data", (response: { event: JobEvent }) => events.push(response.event));
    call.on("error", () => undefined);
    call.on("status", (status: StatusObject) => {
      resolve(status.code === 0 ? { events } : { events, error: callError(status) });
    });
  });
}

/** Runs a unary file method; the response, or the call error. */
export function unary<Res>(client: AnyClient, method: string, request: unknown, key: string | undefined): Promise<{ response?: Res; error?: CallError }> {
  return new Promise((resolve) => {
    client[method]!(request, withKey(key), (error: ServiceError | null, response: Res) => {
      resolve(error ? { error: callError(error) } : { response });
    });
  });
}
