// FileService: the PEM objects in the object store. Upload and Delete need
// file:write, List and Get file:read. Uploading different content under an existing
// name is ALREADY_EXISTS unless `force`; the same content again answers changed false.
// Upload, Get and Delete are audited (Get hands out trust data).
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { isValidObjectName, OBJECT_NAME_PATTERN } from "../../common/names.js";
import { alreadyExists, invalidArgument, notFound } from "../../common/status-error.js";
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
import type { ObjectInfo, ObjectStore } from "../object-store/object-store.js";
import { unaryCall, type UnaryCallDeps } from "./unary-call.js";

export const MAX_OBJECT_BYTES = 64 * 1024;

export interface FileServiceDeps extends UnaryCallDeps {
  objects: ObjectStore;
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

export class FileService {
  /** Uploads to one name run one after another, so check-then-write cannot interleave. */
  private readonly uploads = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: FileServiceDeps) {}

  handlers(): UntypedServiceImplementation {
    const { deps } = this;
    return {
      upload: unaryCall(deps, {
        permission: "file:write",
        auditTarget: (request: UploadRequest) => request.name,
        handle: (request, _principal, outcome) => this.upload(request, outcome),
      }),
      list: unaryCall(deps, { permission: "file:read", handle: (_request: ListRequest) => this.list() }),
      get: unaryCall(deps, {
        permission: "file:read",
        auditTarget: (request: GetRequest) => request.name,
        handle: (request, _principal, outcome) => this.get(request, outcome),
      }),
      delete: unaryCall(deps, {
        permission: "file:write",
        auditTarget: (request: DeleteRequest) => request.name,
        handle: (request, _principal, outcome) => this.remove(request, outcome),
      }),
    };
  }

  private async upload(request: UploadRequest, outcome: Record<string, unknown>) {
    checkName(request.name);
    if (request.content.byteLength === 0) throw invalidArgument("content is empty");
    if (request.content.byteLength > MAX_OBJECT_BYTES) {
      throw invalidArgument(`content is ${request.content.byteLength} bytes, more than ${MAX_OBJECT_BYTES / 1024} KiB`);
    }
    const sha256 = createHash("sha256").update(request.content).digest("hex");
    outcome.sha256 = sha256;
    outcome.force = request.force;
    return this.serialized(request.name, async () => {
      const existing = await this.deps.objects.head(request.name);
      if (existing && existing.sha256 === sha256) {
        outcome.changed = false;
        return create(UploadResponseSchema, { file: fileInfo(existing), changed: false });
      }
      if (existing && !request.force) {
        throw alreadyExists(`object "${request.name}" already exists with different content`, "upload with force (?force=true) to replace it");
      }
      const stored = await this.deps.objects.put(request.name, request.content);
      outcome.changed = true;
      return create(UploadResponseSchema, { file: fileInfo(stored), changed: true });
    });
  }

  private async list() {
    const infos = await this.deps.objects.list();
    return create(ListResponseSchema, { files: infos.map(fileInfo) });
  }

  private async get(request: GetRequest, outcome: Record<string, unknown>) {
    checkName(request.name);
    const stored = await this.deps.objects.get(request.name);
    if (!stored) throw notFound(`object "${request.name}" not found`);
    outcome.sha256 = stored.info.sha256;
    return create(GetResponseSchema, { file: fileInfo(stored.info), content: stored.content });
  }

  private async remove(request: DeleteRequest, outcome: Record<string, unknown>) {
    checkName(request.name);
    const removed = await this.serialized(request.name, () => this.deps.objects.delete(request.name));
    if (!removed) throw notFound(`object "${request.name}" not found`);
    outcome.sha256 = removed.sha256;
    return create(DeleteResponseSchema, { file: fileInfo(removed) });
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
}
