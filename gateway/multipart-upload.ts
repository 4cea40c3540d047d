// The body of POST /file: either a multipart form with the fields `name` and
// `file` (`curl -F name=corp-ca.pem -F file=@ca.pem`), or JSON `{name, content}`
// with the PEM as text. Both become the name and the bytes to store. The form is
// read within the body limit and held to limits of its own (multipart-form.ts);
// whether the PEM is small and valid enough is the control plane's to judge.
import type { NodeServerRequest } from "./node-handler-types.js";
import { HttpError } from "./error-body.js";
import { mediaType, parseJsonBody, requireJsonContentType, requiredStringFields } from "./json-body.js";
import { parseMultipartForm, type FormPart, type MultipartLimits } from "./multipart-form.js";
import { readRequestBody } from "./request-body.js";
import { utf8Text } from "./utf8-text.js";

export interface UploadBody {
  name: string;
  content: Uint8Array;
}

/** The fields of each form of the body, in the order the OpenAPI document lists them. */
export const UPLOAD_FORM_FIELDS = ["name", "file"] as const;
export const UPLOAD_JSON_FIELDS = ["name", "content"] as const;

/**
 * The form has two fields; a few more parts still get the precise "unknown field"
 * answer. An object name is short (the control plane checks it); the file is
 * bounded by the body limit only.
 */
export const UPLOAD_FORM_LIMITS: MultipartLimits = {
  maxParts: 8,
  maxPartHeaderBytes: 2048,
  maxFieldBytes: { name: 1024 },
};

export async function readUploadBody(request: NodeServerRequest, maxBytes: number): Promise<UploadBody> {
  const type = mediaType(request.headers);
  if (type === "multipart/form-data") {
    const bytes = await readRequestBody(request, maxBytes);
    return uploadFromForm(parseMultipartForm(bytes, request.headers["content-type"]!, UPLOAD_FORM_LIMITS));
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

function uploadFromForm(parts: readonly FormPart[]): UploadBody {
  for (const part of parts) {
    if (!(UPLOAD_FORM_FIELDS as readonly string[]).includes(part.name)) {
      throw new HttpError(400, `unknown field "${part.name}"`, `the form takes only the fields "name" and "file"`);
    }
  }
  const [name, file] = UPLOAD_FORM_FIELDS.map((field) => {
    const given = parts.filter((part) => part.name === field);
    if (given.length > 1) throw new HttpError(400, `field "${field}" given more than once`, "send each form field once");
    if (given.length === 0) {
      throw new HttpError(400, `missing field "${field}"`, `the form must have the fields "name" and "file"`);
    }
    return given[0]!;
  }) as [FormPart, FormPart];
  if (name.filename !== undefined) {
    throw new HttpError(400, `field "name" must be a string`, "send the name as a plain form field, not a file");
  }
  const nameText = utf8Text(name.content);
  if (nameText === undefined) throw new HttpError(400, `field "name" must be a string`, "the name is not valid UTF-8");
  if (nameText.length === 0) throw new HttpError(400, `field "name" must not be empty`, "name the object to store");
  if (file.content.byteLength === 0) throw new HttpError(400, `field "file" must not be empty`, "the file has no content");
  return { name: nameText, content: new Uint8Array(file.content) };
}
