// Opens the object store named by `file:DIR` or `s3://BUCKET[/PREFIX]`. The S3
// implementation (and the minio client) is loaded only when asked for.
import { resolve } from "node:path";
import { FileObjectStore } from "./file-object-store.js";
import type { ObjectStore } from "./object-store.js";

export interface S3Settings {
  endpoint?: string;
  accessKey?: string;
  secretKey?: string;
  region?: string;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export async function openObjectStore(url: string, s3: S3Settings = {}): Promise<ObjectStore> {
  if (url.startsWith("file:")) {
    const dir = url.slice("file:".length).replace(/^\/\/(?=\/)/, "");
    if (dir === "") throw new Error(`object store "${url}": file: needs a directory`);
    return new FileObjectStore(resolve(dir));
  }
  if (url.startsWith("s3://")) {
    const rest = url.slice("s3://".length);
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? "" : rest.slice(slash + 1).replace(/\/+$/, "");
    if (!BUCKET_NAME.test(bucket)) throw new Error(`object store "${url}": "${bucket}" is not a valid S3 bucket name`);
    const { S3ObjectStore } = await import("./s3-object-store.js");
    return new S3ObjectStore({ bucket, prefix, ...s3 });
  }
  throw new Error(`object store "${url}" must be file:DIR or s3://BUCKET`);
}
