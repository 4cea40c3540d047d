// JSON request bodies declared as a list of required string fields: the shape is
// checked here (object, known fields, present, strings, non-empty); what the
// values mean is for the control plane to judge.
import type { IncomingHttpHeaders } from "node:http";
import { HttpError } from "./error-body.js";
import { utf8Text } from "./utf8-text.js";

const JSON_MEDIA_TYPE = /^application\/([a-z0-9.+-]+\+)?json$/;

/** The media type of a Content-Type header, lower-case, without parameters. */
export function mediaType(headers: IncomingHttpHeaders): string | undefined {
  const value = headers["content-type"];
  if (value === undefined) return undefined;
  return value.split(";", 1)[0]!.trim().toLowerCase();
}

/** JSON routes take `application/json` (or `+json`), or no Content-Type at all; anything else is 415. */
export function requireJsonContentType(headers: IncomingHttpHeaders): void {
  const type = mediaType(headers);
  if (type === undefined || JSON_MEDIA_TYPE.test(type)) return;
  throw new HttpError(415, "unsupported content type", `send the body as application/json, not ${type}`);
}

export function parseJsonBody(bytes: Buffer): unknown {
  if (bytes.byteLength === 0) throw new HttpError(400, "invalid JSON body", "the request body is empty");
  const text = utf8Text(bytes);
  if (text === undefined) throw new HttpError(400, "invalid JSON body", "the body is not valid UTF-8");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, "invalid JSON body", error instanceof Error ? error.message : "not JSON");
  }
}

/** Checks a parsed body against its declared fields and returns their values. */
export function requiredStringFields<const Field extends string>(
  value: unknown,
  fields: readonly Field[],
): Record<Field, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "invalid JSON body", "the body must be a JSON object");
  }
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (!(fields as readonly string[]).includes(key)) {
      throw new HttpError(400, `unknown field "${key}"`, `the body takes only ${fieldList(fields)}`);
    }
  }
  const result = {} as Record<Field, string>;
  for (const field of fields) {
    const fieldValue = body[field];
    if (fieldValue === undefined || fieldValue === null) {
      throw new HttpError(400, `missing field "${field}"`, `the body must have ${fieldList(fields)}`);
    }
    if (typeof fieldValue !== "string") {
      throw new HttpError(400, `field "${field}" must be a string`, `got ${jsonTypeName(fieldValue)}`);
    }
    if (fieldValue.length === 0) {
      throw new HttpError(400, `field "${field}" must not be empty`, `the body must have ${fieldList(fields)}`);
    }
    result[field] = fieldValue;
  }
  return result;
}

function fieldList(fields: readonly string[]): string {
  return fields.map((field) => `"${field}"`).join(", ");
}

function jsonTypeName(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
