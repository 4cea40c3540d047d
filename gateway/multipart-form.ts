// A multipart/form-data body (RFC 7578), already read within the body limit,
// split into its parts with limits of its own: how many parts, how large each
// part's headers, and how large each named field may be. Anything malformed is a
// 400 naming what is wrong; a field over its limit is a 413.
import { HttpError } from "./error-body.js";
import { utf8Text } from "./utf8-text.js";

export interface FormPart {
  /** The field name of Content-Disposition. */
  readonly name: string;
  /** Present when the part is a file (`filename=` given, possibly empty). */
  readonly filename?: string;
  readonly content: Buffer;
}

export interface MultipartLimits {
  /** More parts than this is a 400. */
  readonly maxParts: number;
  /** A part whose header block is longer than this is a 400. */
  readonly maxPartHeaderBytes: number;
  /** Fields with a size limit of their own (field name → bytes); a larger field is a 413. */
  readonly maxFieldBytes: Readonly<Record<string, number>>;
}

const CRLF = Buffer.from("\r\n", "latin1");
const HEADERS_END = Buffer.from("\r\n\r\n", "latin1");
/** RFC 2046: 1 to 70 characters, no trailing space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

function invalid(details: string): HttpError {
  return new HttpError(400, "invalid multipart body", details);
}

/** The boundary parameter of a multipart/form-data Content-Type. */
export function multipartBoundary(contentType: string): string {
  const match = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (boundary === undefined) throw invalid("the Content-Type names no boundary");
  if (!BOUNDARY.test(boundary)) throw invalid("the boundary must be 1 to 70 characters of RFC 2046");
  return boundary;
}

export function parseMultipartForm(body: Buffer, contentType: string, limits: MultipartLimits): FormPart[] {
  const delimiter = Buffer.from(`--${multipartBoundary(contentType)}`, "latin1");
  const nextDelimiter = Buffer.concat([CRLF, delimiter]);
  // The first delimiter opens the body or follows a preamble and a line end.
  let position = body.subarray(0, delimiter.length).equals(delimiter) ? 0 : indexAfter(body, nextDelimiter, 0, CRLF.length);
  if (position < 0) throw invalid("the body has no part delimited by the boundary");
  const parts: FormPart[] = [];
  for (;;) {
    position += delimiter.length;
    if (body[position] === 0x2d && body[position + 1] === 0x2d) return parts; // "--": the close delimiter
    while (body[position] === 0x20 || body[position] === 0x09) position++; // transport padding
    if (body[position] !== 0x0d || body[position + 1] !== 0x0a) throw invalid("a boundary line does not end with CRLF");
    position += CRLF.length;
    if (parts.length === limits.maxParts) throw invalid(`the form has more than ${limits.maxParts} parts`);

    const headersEnd = body[position] === 0x0d && body[position + 1] === 0x0a ? position : body.indexOf(HEADERS_END, position);
    if (headersEnd < 0 || headersEnd - position > limits.maxPartHeaderBytes) {
      throw invalid(`the headers of a part must end within ${limits.maxPartHeaderBytes} bytes`);
    }
    const disposition = contentDisposition(body.subarray(position, headersEnd));
    const contentStart = headersEnd + (headersEnd === position ? CRLF.length : HEADERS_END.length);
    const contentEnd = body.indexOf(nextDelimiter, contentStart);
    if (contentEnd < 0) throw invalid("the body ends inside a part (no closing boundary)");
    const limit = Object.hasOwn(limits.maxFieldBytes, disposition.name) ? limits.maxFieldBytes[disposition.name]! : Infinity;
    if (contentEnd - contentStart > limit) {
      throw new HttpError(413, `form field "${disposition.name}" too large`, `the field must be at most ${limit} bytes`);
    }
    parts.push({ ...disposition, content: body.subarray(contentStart, contentEnd) });
    position = contentEnd + CRLF.length;
  }
}

function indexAfter(body: Buffer, needle: Buffer, from: number, skip: number): number {
  const index = body.indexOf(needle, from);
  return index < 0 ? index : index + skip;
}

/** The field name (and file name) of a part, from its Content-Disposition header. */
function contentDisposition(headerBlock: Buffer): { name: string; filename?: string } {
  const text = utf8Text(headerBlock);
  if (text === undefined) throw invalid("the headers of a part are not valid UTF-8");
  for (const line of text.split("\r\n")) {
    if (line.length === 0) continue; // a part without headers
    const colon = line.indexOf(":");
    if (colon < 0) throw invalid("a part has a header line without a colon");
    if (line.slice(0, colon).trim().toLowerCase() !== "content-disposition") continue;
    const value = line.slice(colon + 1).trim();
    if (!/^form-data\s*(;|$)/i.test(value)) throw invalid("a part's Content-Disposition is not form-data");
    const name = parameter(value, "name");
    if (name === undefined) throw invalid("a part has no field name");
    const filename = parameter(value, "filename");
    return filename === undefined ? { name } : { name, filename };
  }
  throw invalid("a part has no Content-Disposition header");
}

/** `; key=value` or `; key="quoted \"value\""` in a header value. */
const PARAMETERS: Readonly<Record<"name" | "filename", RegExp>> = {
  name: /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/i,
  filename: /;\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/i,
};

function parameter(value: string, key: "name" | "filename"): string | undefined {
  const match = PARAMETERS[key].exec(value);
  if (!match) return undefined;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : match[2]!;
}
