// The body of POST /file: either a multipart form with the fields `name` and
// `file` (`curl -F name=corp-ca.pem -F file=@ca.pem`), or JSON `{name, content}`
// with the PEM as text. Both become the name and the bytes to store.
import type { NodeServerRequest } from "./node-handler-types.js";
import { HttpError } from "./error-body.js";
import { mediaType, parseJsonBody, requireJsonContentType, requiredStringFields } from "./json-body.js";
import { readRequestBody } from "./request-body.js";

export interface UploadBody {
  name: string;
  content: Uint8Array;
}

/** The fields of each form of the body, in the order the OpenAPI document lists them. */
export const UPLOAD_FORM_FIELDS = ["name", "file"] as const;
export const UPLOAD_JSON_FIELDS = ["name", "content"] as const;

export async function readUploadBody(request: NodeServerRequest, maxBytes: number): Promise<UploadBody> {
  const type = mediaType(request.headers);
  if (type === "multipart/form-data") {
    const bytes = await readRequestBody(request, maxBytes);
    return uploadFromForm(await parseForm(bytes, request.headers["content-type"]!));
  }
  try {
    requireJsonContentType(request.headers);
  } catch {
    throw new HttpError(
      415,
      "unsupported content type",
      `send the file as multipart/form-data (fields "name" and "file") or application/json ({"name", "content"}), not ${type}`,
    );
  }
  const body = requiredStringFields(parseJsonBody(await readRequestBody(request, maxBytes)), UPLOAD_JSON_FIELDS);
  return { name: body.name, content: new TextEncoder().encode(body.content) };
}

async function parseForm(bytes: Buffer, contentType: string): Promise<FormData> {
  try {
    return await new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": contentType } }).formData();
  } catch (error) {
    throw new HttpError(400, "invalid multipart body", error instanceof Error ? error.message : "not multipart/form-data");
  }
}

async function uploadFromForm(form: FormData): Promise<UploadBody> {
  for (const key of form.keys()) {
    if (!(UPLOAD_FORM_FIELDS as readonly string[]).includes(key)) {
      throw new HttpError(400, `unknown field "${key}"`, `the form takes only the fields "name" and "file"`);
    }
  }
  for (const field of UPLOAD_FORM_FIELDS) {
    if (form.getAll(field).length > 1) {
      throw new HttpError(400, `field "${field}" given more than once`, "send each form field once");
    }
  }
  const name = form.get("name");
  if (name === null) throw new HttpError(400, `missing field "name"`, `the form must have the fields "name" and "file"`);
  if (typeof name !== "string") {
    throw new HttpError(400, `field "name" must be a string`, "send the name as a plain form field, not a file");
  }
  if (name.length === 0) throw new HttpError(400, `field "name" must not be empty`, "name the object to store");
  const file = form.get("file");
  if (file === null) throw new HttpError(400, `missing field "file"`, `the form must have the fields "name" and "file"`);
  const content = typeof file === "string" ? new TextEncoder().encode(file) : new Uint8Array(await file.arrayBuffer());
  if (content.byteLength === 0) throw new HttpError(400, `field "file" must not be empty`, "the file has no content");
  return { name, content };
}
