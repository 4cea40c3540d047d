// An ObjectStore that tells someone of every fault of the store underneath (for
// metrics). Refusals of the request itself (bad name, not found) are not faults.
import { GrpcStatus, StatusError } from "../../common/status-error.js";
import type { ObjectInfo, ObjectStore, StoredObject } from "./object-store.js";

const REQUEST_PROBLEMS: ReadonlySet<GrpcStatus> = new Set([
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.NOT_FOUND,
  GrpcStatus.ALREADY_EXISTS,
  GrpcStatus.FAILED_PRECONDITION,
]);

export class CountedObjectStore implements ObjectStore {
  constructor(
    private readonly store: ObjectStore,
    private readonly onFault: (error: unknown) => void,
  ) {}

  put(name: string, content: Uint8Array): Promise<ObjectInfo> {
    return this.counted(this.store.put(name, content));
  }

  get(name: string): Promise<StoredObject | undefined> {
    return this.counted(this.store.get(name));
  }

  head(name: string): Promise<ObjectInfo | undefined> {
    return this.counted(this.store.head(name));
  }

  list(): Promise<ObjectInfo[]> {
    return this.counted(this.store.list());
  }

  delete(name: string): Promise<ObjectInfo | undefined> {
    return this.counted(this.store.delete(name));
  }

  close(): Promise<void> {
    return this.store.close();
  }

  private async counted<T>(operation: Promise<T>): Promise<T> {
    try {
      return await operation;
    } catch (error) {
      if (!(error instanceof StatusError && REQUEST_PROBLEMS.has(error.code))) this.onFault(error);
      throw error;
    }
  }
}
