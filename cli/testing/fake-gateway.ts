// A stand-in gateway for the client commands' tests: a Connect server on 127.0.0.1
// (HTTP/1.1) with the real service descriptors, whose methods record each request
// with its authorization header and answer from a script. A method without a
// script answers UNIMPLEMENTED. With `tls`, it serves HTTPS instead.
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type MethodImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CertificateService } from "../../gen/trustplane/v1/certificate_pb.js";
import { FileService } from "../../gen/trustplane/v1/file_pb.js";
import { FleetService } from "../../gen/trustplane/v1/fleet_pb.js";
import { JobService } from "../../gen/trustplane/v1/job_pb.js";

export interface RecordedCall {
  /** Local method name: `installCA`, `getJob`, `listAgents`, `upload`... */
  method: string;
  request: unknown;
  authorization: string | undefined;
}

/** Answers one call: a message (init shape) for a unary method, messages for a stream. Throw a ConnectError to fail. */
export type Script = (request: any) => unknown;

export class FakeGateway {
  readonly calls: RecordedCall[] = [];
  readonly scripts = new Map<string, Script>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(options: { tls?: { certPem: Buffer; keyPem: Buffer } } = {}): Promise<FakeGateway> {
    const holder: { fake?: FakeGateway } = {};
    const handler = connectNodeAdapter({
      routes(router) {
        for (const service of [CertificateService, JobService, FleetService, FileService] as DescService[]) {
          for (const method of service.methods) router.rpc(method, implementation(method, () => holder.fake!) as MethodImpl<typeof method>);
        }
      },
    });
    const { tls } = options;
    const server = tls ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handler) : createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    holder.fake = new FakeGateway(server, `${tls ? "https" : "http"}://127.0.0.1:${port}`);
    return holder.fake;
  }

  /** Scripts `method`; returns this for chaining. */
  on(method: string, script: Script): this {
    this.scripts.set(method, script);
    return this;
  }

  answer(method: string, request: unknown, context: HandlerContext): unknown {
    this.calls.push({ method, request, authorization: context.requestHeader.get("authorization") ?? undefined });
    const script = this.scripts.get(method);
    if (!script) throw new ConnectError(`${method} is not scripted`, Code.Unimplemented);
    return script(request);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function implementation(method: DescMethod, fake: () => FakeGateway): unknown {
  if (method.methodKind === "server_streaming") {
    return async function* (request: unknown, context: HandlerContext) {
      yield* (await fake().answer(method.localName, request, context)) as AsyncIterable<unknown>;
    };
  }
  return async (request: unknown, context: HandlerContext) => fake().answer(method.localName, request, context);
}
