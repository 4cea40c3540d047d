// A stand-in control plane for the gateway's tests: a grpc-js server (plaintext or
// TLS, optionally requiring a client certificate) with the real service
// definitions whose handlers record each request with its authorization and
// x-forwarded-for metadata and answer from a script (JobEvents, a message, or a
// StatusError).
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import {
  Server,
  ServerCredentials,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../common/grpc-service-definition.js";
import { GrpcStatus, StatusError, toStatusError } from "../../common/status-error.js";
import { CertificateService } from "../../gen/trustplane/v1/certificate_pb.js";
import type { JobEvent } from "../../gen/trustplane/v1/common_pb.js";
import { JobEventSchema } from "../../gen/trustplane/v1/common_pb.js";
import { FileService } from "../../gen/trustplane/v1/file_pb.js";
import { FleetService } from "../../gen/trustplane/v1/fleet_pb.js";
import { JobService } from "../../gen/trustplane/v1/job_pb.js";

export interface RecordedCall {
  /** Local method name, such as `installCA`, `upload`, `getJob` or `listAgents`. */
  method: string;
  request: unknown;
  authorization: string | undefined;
}

export interface FakeControlPlaneTls {
  certPem: Buffer;
  keyPem: Buffer;
  /** Require client certificates signed by this CA (mutual TLS). */
  clientCaPem?: Buffer;
}

export interface FakeControlPlaneOptions {
  /** Serve TLS; plaintext when absent. */
  tls?: FakeControlPlaneTls;
}

/** Sends job events for a server-streaming call (every one streams JobEvents); throw (a StatusError) to fail the call. */
export type StreamScript = (request: never, send: (event: MessageInitShape<typeof JobEventSchema>) => void) => unknown;
/** Answers a unary call; throw (a StatusError) to fail it. */
export type UnaryScript = (request: never) => unknown;

export class FakeControlPlane {
  readonly calls: RecordedCall[] = [];
  /** The x-forwarded-for metadata of every call, in the order of `calls` (kept apart so `calls` compares as before). */
  readonly forwardedFor: (string | undefined)[] = [];
  /** Scripts by local method name; a method without one answers UNIMPLEMENTED. */
  readonly streams = new Map<string, StreamScript>();
  readonly unaries = new Map<string, UnaryScript>();

  private readonly cancellationWaiters: ((method: string) => void)[] = [];

  private constructor(
    private readonly server: Server,
    readonly address: string,
  ) {}

  /** Forgets recorded calls and scripted answers (between tests). */
  reset(): void {
    this.calls.length = 0;
    this.streams.clear();
    this.unaries.clear();
  }

  static async start(options: FakeControlPlaneOptions = {}): Promise<FakeControlPlane> {
    const server = new Server();
    const holder: { fake?: FakeControlPlane } = {};
    for (const service of [CertificateService, FileService, JobService, FleetService] as DescService[]) {
      server.addService(grpcServiceDefinition(service), implementation(service, () => holder.fake!));
    }
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync("127.0.0.1:0", credentials(options.tls), (error, bound) =>
        error ? reject(error) : resolve(bound),
      );
    });
    holder.fake = new FakeControlPlane(server, `127.0.0.1:${port}`);
    return holder.fake;
  }

  /** Resolves with the method name of the next streaming call the client cancels. */
  nextCancellation(): Promise<string> {
    return new Promise((resolve) => this.cancellationWaiters.push(resolve));
  }

  /** @internal called by the handlers */
  cancelled(method: string): void {
    for (const waiter of this.cancellationWaiters.splice(0)) waiter(method);
  }

  /** The calls of one method, oldest first. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

function credentials(tls: FakeControlPlaneTls | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.clientCaPem ?? null,
    [{ private_key: tls.keyPem, cert_chain: tls.certPem }],
    tls.clientCaPem !== undefined,
  );
}

function implementation(service: DescService, fake: () => FakeControlPlane): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const output = method.output as DescMessage;
    if (method.methodKind === "server_streaming") {
      handlers[method.localName] = ((call: ServerWritableStream<never, unknown>) => {
        const authorization = call.metadata.get("authorization")[0];
        fake().calls.push(recorded(method, call.request, authorization));
        fake().forwardedFor.push(metadataText(call.metadata.get("x-forwarded-for")[0]));
        call.once("cancelled", () => fake().cancelled(method.localName));
        const script = fake().streams.get(method.localName);
        const send = (event: MessageInitShape<typeof JobEventSchema>) => {
          call.write(create(output, { event: create(JobEventSchema, event) as JobEvent } as never));
        };
        Promise.resolve()
          .then(() => {
            if (!script) throw unscripted(method.localName);
            return script(call.request, send);
          })
          .then(
            () => call.end(),
            (error: unknown) => call.emit("error", toStatusError(error).toServiceError()),
          );
      }) as UntypedHandleCall;
    } else {
      handlers[method.localName] = ((call: ServerUnaryCall<never, unknown>, callback: sendUnaryData<unknown>) => {
        const authorization = call.metadata.get("authorization")[0];
        fake().calls.push(recorded(method, call.request, authorization));
        fake().forwardedFor.push(metadataText(call.metadata.get("x-forwarded-for")[0]));
        const script = fake().unaries.get(method.localName);
        Promise.resolve()
          .then(() => {
            if (!script) throw unscripted(method.localName);
            return script(call.request);
          })
          .then(
            (answer) => callback(null, create(output, answer as never)),
            (error: unknown) => callback(toStatusError(error).toServiceError()),
          );
      }) as UntypedHandleCall;
    }
  }
  return handlers;
}

function unscripted(method: string): StatusError {
  return new StatusError(GrpcStatus.UNIMPLEMENTED, `the fake has no script for ${method}`);
}

function metadataText(value: unknown): string | undefined {
  return value === undefined ? undefined : String(value);
}

/** The request as a plain protobuf-es message (bytes as Uint8Array, not the Buffer grpc-js decodes into). */
function recorded(method: DescMethod, request: never, authorization: unknown): RecordedCall {
  const input = method.input as DescMessage;
  return {
    method: method.localName,
    request: fromBinary(input, toBinary(input, request)),
    authorization: authorization === undefined ? undefined : String(authorization),
  };
}
