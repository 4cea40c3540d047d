// Where PEM objects live (DESIGN.md section 6). Two implementations: a directory
// (`file:DIR`) and an S3 bucket (`s3://BUCKET`). Names are validated by the caller
// (common/names.ts isValidObjectName); implementations refuse others anyway.
// A store that cannot be reached throws UNAVAILABLE `object store unavailable: …`.

export interface ObjectInfo {
  name: string;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
  size: number;
  updatedAt: Date;
}

export interface StoredObject {
  info: ObjectInfo;
  content: Buffer;
}

export interface ObjectStore {
  /** Stores `content` under `name`, replacing what was there. */
  put(name: string, content: Uint8Array): Promise<ObjectInfo>;
  /** The object, or undefined if there is none. */
  get(name: string): Promise<StoredObject | undefined>;
  /** The object's info, or undefined if there is none. */
  head(name: string): Promise<ObjectInfo | undefined>;
  /** Every object, sorted by name. */
  list(): Promise<ObjectInfo[]>;
  /** Removes the object; its info, or undefined if there was none. */
  delete(name: string): Promise<ObjectInfo | undefined>;
  /** Releases what the store holds open. */
  close(): Promise<void>;
}
