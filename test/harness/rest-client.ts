// The gateway's REST API as a test calls it: JSON in and out with an API key,
// NDJSON lines with their arrival times, multipart uploads.
import { expect } from "vitest";

export interface RestAnswer {
  status: number;
  body: any;
  headers: Headers;
}

export interface RestInit {
  /** Another key, or null for none; default the client's key. */
  key?: string | null;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

export class RestClient {
  constructor(
    readonly url: string,
    readonly key: string,
  ) {}

  async rest(method: string, path: string, init: RestInit = {}): Promise<RestAnswer> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    const key = init.key === undefined ? this.key : init.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] ??= "application/json";
    }
    const response = await fetch(`${this.url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // leave non-JSON bodies as text (NDJSON is parsed by the caller)
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  /** A request answered as NDJSON: each line parsed, with the time it arrived. */
  async *ndjson(method: string, path: string, json?: unknown): AsyncGenerator<{ line: any; at: number }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, accept: "application/x-ndjson" };
    if (json !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${this.url}${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
    if (response.status !== 200) throw new Error(`NDJSON request answered ${response.status}: ${await response.text()}`);
    expect(response.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const text = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (text) yield { line: JSON.parse(text), at: Date.now() };
      }
    }
  }

  /** Uploads a PEM with a multipart form, as `curl -F name=... -F file=@...` does. */
  async upload(name: string, pem: string, query = ""): Promise<RestAnswer> {
    const form = new FormData();
    form.set("name", name);
    form.set("file", new Blob([pem], { type: "application/x-pem-file" }), `${name}`);
    return this.rest("POST", `/file${query}`, { body: form });
  }

  async install(target: string, name: string, object: string, query = ""): Promise<RestAnswer> {
    return this.rest("POST", `/node/${encodeURIComponent(target)}/certificate/ca${query}`, { json: { name, object } });
  }
}
