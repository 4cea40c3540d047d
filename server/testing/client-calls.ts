// Raw grpc-js clients of the control plane's client API, for tests: no gateway, no
// Connect, just the wire contract.
import type { DescService } from "@bufbuild/protobuf";
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ServiceError,
  type StatusObject,
} from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../common/grpc-service-definition.js";
import { ERROR_DETAILS_METADATA_KEY } from "../../common/status-error.js";
import { CertificateService } from "../../gen/trustplane/v1/certificate_pb.js";
import type { JobEvent } from "../../gen/trustplane/v1/common_pb.js";
import { FileService } from "../../gen/trustplane/v1/file_pb.js";
import { FleetService } from "../../gen/trustplane/v1/fleet_pb.js";
import { JobService } from "../../gen/trustplane/v1/job_pb.js";

type AnyClient = Client & Record<string, (...args: unknown[]) => unknown>;

/** How a test client reaches the control plane; default plaintext. */
export interface ClientChannel {
  credentials?: ChannelCredentials;
  /** grpc-js channel options, such as `grpc.ssl_target_name_override`. */
  options?: ChannelOptions;
}

function client(service: DescService, name: string, address: string, channel: ClientChannel): AnyClient {
  const Constructor = makeGenericClientConstructor(grpcServiceDefinition(service), name);
  return new Constructor(address, channel.credentials ?? credentials.createInsecure(), channel.options) as unknown as AnyClient;
}

export function certificateClient(address: string, channel: ClientChannel = {}): AnyClient {
  return client(CertificateService, "CertificateService", address, channel);
}

export function fileClient(address: string, channel: ClientChannel = {}): AnyClient {
  return client(FileService, "FileService", address, channel);
}

export function jobClient(address: string, channel: ClientChannel = {}): AnyClient {
  return client(JobService, "JobService", address, channel);
}

export function fleetClient(address: string, channel: ClientChannel = {}): AnyClient {
  return client(FleetService, "FleetService", address, channel);
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

/** A server-streaming call whose events are visible while it runs. */
export interface LiveStream<Event> {
  /** Events received so far. */
  readonly events: Event[];
  /** Resolves once at least `count` events arrived (rejects after `timeoutMs`). */
  until(count: number, timeoutMs?: number): Promise<void>;
  /** The call's end: every event, or the call error. */
  readonly done: Promise<{ events: Event[]; error?: CallError }>;
  cancel(): void;
}

/** Starts a server-streaming method whose responses carry `event` (JobService.watchJob). */
export function liveStream<Event>(client: AnyClient, method: string, request: unknown, key: string | undefined): LiveStream<Event> {
  const events: Event[] = [];
  const waiters: (() => void)[] = [];
  const call = client[method]!(request, withKey(key)) as NodeJS.EventEmitter & { cancel(): void };
  call.on("data", (response: { event: Event }) => {
    events.push(response.event);
    for (const wake of waiters.splice(0)) wake();
  });
  call.on("error", () => undefined);
  const done = new Promise<{ events: Event[]; error?: CallError }>((resolve) => {
    call.on("status", (status: StatusObject) => {
      resolve(status.code === 0 ? { events } : { events, error: callError(status) });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  let ended = false;
  void done.then(() => (ended = true));
  return {
    events,
    done,
    cancel: () => call.cancel(),
    async until(count: number, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count) {
        const left = deadline - Date.now();
        if (left <= 0 || ended) throw new Error(`expected ${count} event(s), got ${events.length}${ended ? " before the call ended" : ""}`);
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
      }
    },
  };
}

/** Runs a unary method; the response, or the call error. */
export function unary<Res>(client: AnyClient, method: string, request: unknown, key: string | undefined): Promise<{ response?: Res; error?: CallError }> {
  return new Promise((resolve) => {
    client[method]!(request, withKey(key), (error: ServiceError | null, response: Res) => {
      resolve(error ? { error: callError(error) } : { response });
    });
  });
}
