// `s3://BUCKET[/PREFIX]` through the minio client, against MinIO or any S3 endpoint.
// Path-style requests always (an IP endpoint has no virtual-host buckets). The
// SHA-256 travels as user metadata (`x-amz-meta-sha256`) so listing needs no reads;
// objects written by other tools get it computed from their bytes. The bucket is
// created on first use if missing. Any failure to reach the endpoint is UNAVAILABLE.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { Client, S3Error, type BucketItem } from "minio";
import { isValidObjectName } from "../../common/names.js";
import { invalidArgument, StatusError, unavailable } from "../../common/status-error.js";
import type { ObjectInfo, ObjectStore, StoredObject } from "./object-store.js";

export interface S3ObjectStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash; may be empty. */
  prefix?: string;
  /** `http://127.0.0.1:9000` or `https://s3.example.net`; a bare host means https. */
  endpoint?: string;
  accessKey?: string;
  secretKey?: string;
  region?: string;
  /** Per-operation deadline; default 10 s. */
  operationTimeoutMs?: number;
}

const DEFAULT_ENDPOINT = "https://s3.amazonaws.com";
const SHA256_METADATA = "sha256";
const NOT_FOUND_CODES = new Set(["NotFound", "NoSuchKey"]);

interface ClientEndpoint {
  endPoint: string;
  port: number;
  useSSL: boolean;
}

/** `http://127.0.0.1:4569` → host, port and TLS flag for the minio client. */
export function parseS3Endpoint(endpoint: string): ClientEndpoint {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`S3 endpoint "${endpoint}" must be http:// or https://`);
  }
  if (url.pathname !== "/" && url.pathname !== "") throw new Error(`S3 endpoint "${endpoint}" must not have a path`);
  const useSSL = url.protocol === "https:";
  return {
    endPoint: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
  };
}

function sha256Hex(content: Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

function isNotFound(error: unknown): boolean {
  return error instanceof S3Error && NOT_FOUND_CODES.has(error.code ?? "");
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class S3ObjectStore implements ObjectStore {
  private readonly client: Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly region: string;
  private readonly timeoutMs: number;
  private bucketReady: Promise<void> | undefined;

  constructor(options: S3ObjectStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ? `${options.prefix.replace(/^\/+|\/+$/g, "")}/` : "";
    this.region = options.region || "us-east-1";
    this.timeoutMs = options.operationTimeoutMs ?? 10_000;
    this.client = new Client({
      ...parseS3Endpoint(options.endpoint || DEFAULT_ENDPOINT),
      accessKey: options.accessKey ?? "",
      secretKey: options.secretKey ?? "",
      region: this.region,
      pathStyle: true,
      retryOptions: { disableRetry: true },
    });
  }

  async put(name: string, content: Uint8Array): Promise<ObjectInfo> {
    const key = this.keyOf(name);
    const sha256 = sha256Hex(content);
    const body = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    await this.call(async () => {
      await this.client.putObject(this.bucket, key, body, body.byteLength, {
        "Content-Type": "application/x-pem-file",
        [SHA256_METADATA]: sha256,
      });
    });
    const info = await this.head(name);
    return info ?? { name, sha256, size: body.byteLength, updatedAt: new Date() };
  }

  async get(name: string): Promise<StoredObject | undefined> {
    const key = this.keyOf(name);
    return this.call(async () => {
      try {
        const stat = await this.client.statObject(this.bucket, key);
        const content = await readAll(await this.client.getObject(this.bucket, key));
        return { info: { name, sha256: sha256Hex(content), size: content.byteLength, updatedAt: stat.lastModified }, content };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    });
  }

  async head(name: string): Promise<ObjectInfo | undefined> {
    const key = this.keyOf(name);
    return this.call(() => this.headKey(name, key));
  }

  async list(): Promise<ObjectInfo[]> {
    return this.call(async () => {
      const names: string[] = [];
      const stream = this.client.listObjectsV2(this.bucket, this.prefix, true);
      for await (const item of stream as AsyncIterable<BucketItem>) {
        if (!item.name) continue;
        const name = item.name.slice(this.prefix.length);
        if (isValidObjectName(name)) names.push(name);
      }
      names.sort();
      const infos = await Promise.all(names.map((name) => this.headKey(name, this.prefix + name)));
      return infos.filter((info): info is ObjectInfo => info !== undefined);
    });
  }

  async delete(name: string): Promise<ObjectInfo | undefined> {
    const key = this.keyOf(name);
    return this.call(async () => {
      const info = await this.headKey(name, key);
      if (!info) return undefined;
      await this.client.removeObject(this.bucket, key);
      return info;
    });
  }

  async close(): Promise<void> {}

  private async headKey(name: string, key: string): Promise<ObjectInfo | undefined> {
    try {
      const stat = await this.client.statObject(this.bucket, key);
      let sha256 = String(stat.metaData[SHA256_METADATA] ?? "");
      if (!/^[0-9a-f]{64}$/.test(sha256)) {
        sha256 = sha256Hex(await readAll(await this.client.getObject(this.bucket, key)));
      }
      return { name, sha256, size: stat.size, updatedAt: stat.lastModified };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private keyOf(name: string): string {
    if (!isValidObjectName(name)) throw invalidArgument(`invalid object name "${name}"`);
    return this.prefix + name;
  }

  /** Runs `operation` once the bucket exists, within the deadline; faults become UNAVAILABLE. */
  private async call<T>(operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([this.ensureBucket().then(operation), deadline]);
    } catch (error) {
      if (error instanceof StatusError) throw error;
      if (error instanceof S3Error && error.code === "NoSuchBucket") this.bucketReady = undefined;
      throw unavailable(`object store unavailable: ${describe(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private ensureBucket(): Promise<void> {
    this.bucketReady ??= (async () => {
      if (!(await this.client.bucketExists(this.bucket))) {
        try {
          await this.client.makeBucket(this.bucket, this.region);
        } catch (error) {
          // Another replica may have created it in between.
          if (!(error instanceof S3Error && (error.code === "BucketAlreadyOwnedByYou" || error.code === "BucketAlreadyExists"))) throw error;
        }
      }
    })().catch((error: unknown) => {
      this.bucketReady = undefined;
      throw error;
    });
    return this.bucketReady;
  }
}

function describe(error: unknown): string {
  if (error instanceof S3Error) return `${error.code ?? "S3 error"}: ${error.message}`;
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  return code && !message.includes(code) ? `${code} ${message}` : message || String(code);
}
