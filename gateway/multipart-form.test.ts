// The multipart/form-data parser, one row per case: what it splits a body into,
// and the exact error for each way a body can be malformed or too large.
import { describe, expect, it } from "vitest";
import { HttpError } from "./error-body.js";
import { parseMultipartForm, type MultipartLimits } from "./multipart-form.js";

const TYPE = "multipart/form-data; boundary=XyZ";
const LIMITS: MultipartLimits = { maxParts: 3, maxPartHeaderBytes: 100, maxFieldBytes: { name: 8 } };

function part(name: string, content: string, extra = ""): string {
  return `--XyZ\r\nContent-Disposition: form-data; name="${name}"${extra}\r\n\r\n${content}\r\n`;
}

function parse(body: string | Buffer, contentType = TYPE): unknown {
  try {
    const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
    return parseMultipartForm(bytes, contentType, LIMITS).map((field) => ({
      ...field,
      content: field.content.toString("utf8"),
    }));
  } catch (error) {
    if (error instanceof HttpError) return `${error.status} ${error.message}: ${error.details}`;
    throw error;
  }
}

describe("parseMultipartForm", () => {
  const parsed: [string, string | Buffer, string, unknown][] = [
    ["two fields", `${part("name", "a.pem")}${part("file", "PEM", '; filename="ca.pem"')}--XyZ--\r\n`, TYPE, [
      { name: "name", content: "a.pem" },
      { name: "file", filename: "ca.pem", content: "PEM" },
    ]],
    ["preamble and epilogue", `ignored\r\n${part("name", "x")}--XyZ--\r\nignored too`, TYPE, [{ name: "name", content: "x" }]],
    ["quoted boundary", `${part("name", "x")}--XyZ--`, 'multipart/form-data; boundary="XyZ"', [{ name: "name", content: "x" }]],
    ["content with CRLF and a near-boundary", `${part("file", "a\r\n--XyY\r\nb")}--XyZ--`, TYPE, [{ name: "file", content: "a\r\n--XyY\r\nb" }]],
    ["empty content", `${part("file", "")}--XyZ--`, TYPE, [{ name: "file", content: "" }]],
    ["unquoted name and escaped quote", `--XyZ\r\ncontent-disposition: form-data; name=n; filename="a\\"b"\r\n\r\nv\r\n--XyZ--`, TYPE, [
      { name: "n", filename: 'a"b', content: "v" },
    ]],
    ["unicode field name", `${part("名前", "x")}--XyZ--`, TYPE, [{ name: "名前", content: "x" }]],
    ["no parts", "--XyZ--\r\n", TYPE, []],
    ["no boundary parameter", part("name", "x"), "multipart/form-data", "400 invalid multipart body: the Content-Type names no boundary"],
    ["empty boundary", part("name", "x"), 'multipart/form-data; boundary=""', "400 invalid multipart body: the boundary must be 1 to 70 characters of RFC 2046"],
    ["boundary of 71 characters", part("name", "x"), `multipart/form-data; boundary=${"b".repeat(71)}`, "400 invalid multipart body: the boundary must be 1 to 70 characters of RFC 2046"],
    ["another boundary", `${part("name", "x")}--XyZ--`, "multipart/form-data; boundary=Other", "400 invalid multipart body: the body has no part delimited by the boundary"],
    ["not closed", part("name", "x"), TYPE, "400 invalid multipart body: the body ends inside a part (no closing boundary)"],
    ["headers not ended", "--XyZ\r\nContent-Disposition: form-data; name=x", TYPE, "400 invalid multipart body: the headers of a part must end within 100 bytes"],
    ["headers too long", `--XyZ\r\nContent-Disposition: form-data; name=x\r\nX: ${"y".repeat(100)}\r\n\r\nv\r\n--XyZ--`, TYPE, "400 invalid multipart body: the headers of a part must end within 100 bytes"],
    ["no Content-Disposition", "--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", TYPE, "400 invalid multipart body: a part has no Content-Disposition header"],
    ["no headers at all", "--XyZ\r\n\r\nv\r\n--XyZ--", TYPE, "400 invalid multipart body: a part has no Content-Disposition header"],
    ["not form-data", "--XyZ\r\nContent-Disposition: attachment; name=x\r\n\r\nv\r\n--XyZ--", TYPE, "400 invalid multipart body: a part's Content-Disposition is not form-data"],
    ["no field name", '--XyZ\r\nContent-Disposition: form-data; filename="a"\r\n\r\nv\r\n--XyZ--', TYPE, "400 invalid multipart body: a part has no field name"],
    ["header without colon", "--XyZ\r\nContent-Disposition form-data\r\n\r\nv\r\n--XyZ--", TYPE, "400 invalid multipart body: a part has a header line without a colon"],
    ["junk after a boundary", "--XyZjunk\r\n\r\n", TYPE, "400 invalid multipart body: a boundary line does not end with CRLF"],
    ["headers not UTF-8", Buffer.concat([Buffer.from("--XyZ\r\nContent-Disposition: form-data; name=\""), Buffer.from([0xff, 0xfe]), Buffer.from('"\r\n\r\nv\r\n--XyZ--')]), TYPE, "400 invalid multipart body: the headers of a part are not valid UTF-8"],
    ["too many parts", `${part("a", "1")}${part("b", "2")}${part("c", "3")}${part("d", "4")}--XyZ--`, TYPE, "400 invalid multipart body: the form has more than 3 parts"],
    ["a field over its limit", `${part("name", "123456789")}--XyZ--`, TYPE, '413 form field "name" too large: the field must be at most 8 bytes'],
  ];

  it.each(parsed)("%s", (_case, body, contentType, expected) => {
    expect(parse(body, contentType)).toEqual(expected);
  });

  it("takes a field at its limit and other fields of any size", () => {
    expect(parse(`${part("name", "12345678")}${part("file", "x".repeat(10_000))}--XyZ--`)).toEqual([
      { name: "name", content: "12345678" },
      { name: "file", content: "x".repeat(10_000) },
    ]);
  });
});
