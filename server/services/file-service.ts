// FileService: the PEM objects in the object store. Upload and Delete need
// file:write, List and Get file:read. Uploading different content under an existing
// name is ALREADY_EXISTS unless `force`; the same content again answers changed false.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import type { Logger } from "../../common/logger.js";
import { isValidObjectName, OBJECT_NAME_PATTERN } from "../../common/names.js";
import { alreadyExists, GrpcStatus, invalidArgument, notFound, toStatusError, unavailable } from "../../common/status-error.js";
import {
  DeleteResponseSchema,
  FileInfoSchema,
  GetResponseSchema,
  ListResponseSchema,
  UploadResponseSchema,
  type DeleteRequest,
  type FileInfo,
  type GetRequest,
  type ListRequest,
  type UploadRequest,
} from "../../gen/trustplane/v1/file_pb.js";
import type { ApiKeyPrincipal } from "../auth/api-keys-file.js";
import type { CallAuthorizer } from "../auth/call-authorizer.js";
import type { Permission } from "../auth/permissions.js";
import type { ObjectInfo, ObjectStore } from "../object-store/object-store.js";

export const MAX_OBJECT_BYTES = 64 * 1024;

export interface FileServiceDeps {
  authorizer: CallAuthorizer;
  objects: ObjectStore;
  logger: Logger;
  isClosing: () => boolean;
}

function fileInfo(info: ObjectInfo): FileInfo {
  return create(FileInfoSchema, {
    name: info.name,
    sha256: info.sha256,
    size: BigInt(info.size),
    updatedAt: timestampFromDate(info.updatedAt),
  });
}

function checkName(name: string): void {
  if (name === "") throw invalidArgument("object name is required");
  if (!isValidObjectName(name)) {
    throw invalidArgument(`invalid object name "${name}": must match ${OBJECT_NAME_PATTERN.source} without ".."`);
  }
}

function objectName(request: object): string | undefined {
  return "name" in request && typeof request.name === "string" ? request.name : undefined;
}

export class FileService {
  /** Uploads to one name run one after another, so check-then-write cannot interleave. */
  private readonly uploads = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: FileServiceDeps) {}

  handlers(): UntypedServiceImplementation {
    return {
      upload: this.unary("Upload", "file:write", true, (request: UploadRequest) => this.upload(request)),
      list: this.unary("List", "file:read", false, (_request: ListRequest) => this.list()),
      get: this.unary("Get", "file:read", false, (request: GetRequest) => this.get(request)),
      delete: this.unary("Delete", "file:write", true, (request: DeleteRequest) => this.remove(request)),
    };
  }

  private async upload(request: UploadRequest) {
    checkName(request.name);
    if (request.content.byteLength === 0) throw invalidArgument("content is empty");
    if (request.content.byteLength > MAX_OBJECT_BYTES) {
      throw invalidArgument(`content is ${request.content.byteLength} bytes, more than ${MAX_OBJECT_BYTES / 1024} KiB`);
    }
    return this.serialized(request.name, async () => {
      const sha256 = createHash("sha256").update(request.content).digest("hex");
      const existing = await this.deps.objects.head(request.name);
      if (existing && existing.sha256 === sha256) {
        return { response: create(UploadResponseSchema, { file: fileInfo(existing), changed: false }), audit: { changed: false, sha256 } };
      }
      if (existing && !request.force) {
        throw alreadyExists(`object "${request.name}" already exists with different content`, "upload with force (?force=true) to replace it");
      }
      const stored = await this.deps.objects.put(request.name, request.content);
      return { response: create(UploadResponseSchema, { file: fileInfo(stored), changed: true }), audit: { changed: true, sha256 } };
    });
  }

  private async list() {
    const infos = await this.deps.objects.list();
    return { response: create(ListResponseSchema, { files: infos.map(fileInfo) }) };
  }

  private async get(request: GetRequest) {
    checkName(request.name);
    const stored = await this.deps.objects.get(request.name);
    if (!stored) throw notFound(`object "${request.name}" not found`);
    return { response: create(GetResponseSchema, { file: fileInfo(stored.info), content: stored.content }) };
  }

  private async remove(request: DeleteRequest) {
    checkName(request.name);
    const removed = await this.serialized(request.name, () => this.deps.objects.delete(request.name));
    if (!removed) throw notFound(`object "${request.name}" not found`);
    return { response: create(DeleteResponseSchema, { file: fileInfo(removed) }), audit: { sha256: removed.sha256 } };
  }

  private serialized<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.uploads.get(name) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.uploads.set(name, settled);
    void settled.then(() => {
      if (this.uploads.get(name) === settled) this.uploads.delete(name);
    });
    return next;
  }

  private unary<Req extends object>(
    method: string,
    permission: Permission,
    mutation: boolean,
    handle: (request: Req) => Promise<{ response: unknown; audit?: Record<string, unknown> }>,
  ) {
    return (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>) => {
      void (async () => {
        let principal: ApiKeyPrincipal | undefined;
        try {
          if (this.deps.isClosing()) throw unavailable("control plane is shutting down");
          principal = await this.deps.authorizer.authorize(call.metadata, permission);
          const { response, audit } = await handle(call.request);
          if (mutation) this.audit(method, principal, objectName(call.request), { outcome: "OK", ...audit });
          callback(null, response);
        } catch (error) {
          const status = toStatusError(error);
          if (status.code === GrpcStatus.INTERNAL) this.deps.logger.error({ method, err: status.details }, "internal error");
          if (mutation && principal) this.audit(method, principal, objectName(call.request), { outcome: GrpcStatus[status.code], error: status.message });
          callback(status.toServiceError());
        }
      })();
    };
  }

  private audit(method: string, principal: ApiKeyPrincipal, object: string | undefined, fields: Record<string, unknown>): void {
    this.deps.logger.info({ audit: true, keyId: principal.id, keyName: principal.name, method: `File.${method}`, object, ...fields }, "audit");
  }
}
