// The OpenAPI 3.1 document of the REST API, built from the route table: every
// row becomes one operation with its parameters, body, answer and errors, so a
// route cannot be served without being documented. GET /openapi.json serves it;
// `openApiDocument()` gives it to whoever writes docs/openapi.json.
import { STATUS_CODES } from "node:http";
import { NDJSON_CONTENT_TYPE } from "./job-response.js";
import { JSON_CONTENT_TYPE } from "./json-response.js";
import { UPLOAD_FORM_FIELDS, UPLOAD_JSON_FIELDS } from "./multipart-upload.js";
import type { ErrorStatus, RestBody, RestRoute } from "./rest-route.js";
import { REST_ROUTES } from "./rest-routes.js";
import { REST_SCHEMAS, type JsonSchema, type SchemaName } from "./rest-schemas.js";

export interface OpenApiDocument {
  readonly openapi: "3.1.0";
  readonly info: { readonly title: string; readonly version: string; readonly description: string };
  readonly tags: readonly { readonly name: string; readonly description: string }[];
  /** Path template → lower-case method → operation. */
  readonly paths: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>>;
  readonly components: {
    readonly schemas: Readonly<Record<string, JsonSchema>>;
    readonly securitySchemes: Readonly<Record<string, JsonSchema>>;
  };
}

const SECURITY_SCHEME = "apiKey";

const TAGS = [
  { name: "certificates", description: "CA certificates in the trust stores of the nodes a target matches." },
  { name: "files", description: "PEM objects in the object store, the source of every install and update." },
  { name: "jobs", description: "The record of every certificate command and its per-host results." },
  { name: "agents", description: "The agents the control plane knows." },
  { name: "operations", description: "Health, metrics and this document; no API key." },
] as const;

const DESCRIPTION = `The REST API of the trustplane gateway. The same operations are served over gRPC, \
Connect and gRPC-Web on the same port (package trustplane.v1).

Every error answers \`{"error", "details", "code"}\` with \`code\` the HTTP status, including \
unknown routes (404 \`route not found\`), a known path with another method (405 with \`Allow\`), \
unparsable HTTP (400), a URL over 8 KiB (414), headers over 16 KiB (431) and requests that reach a \
gateway shutting down (503 \`gateway is shutting down\`). A failure on a node is never an HTTP error: \
it is a \`failed\` result inside a 200, and the job id is always returned.

Calls carry \`Authorization: Bearer <API key>\`; the control plane checks the permission each \
operation names (\`x-permission\`). /health, /health/ready, /openapi.json and /metrics take no key: \
bind the gateway so that only trusted networks reach /metrics.`;

const UPLOAD_FIELD_DOCS: Readonly<Record<(typeof UPLOAD_FORM_FIELDS)[number] | (typeof UPLOAD_JSON_FIELDS)[number], string>> = {
  name: "Object name to store the PEM under.",
  file: "The PEM file.",
  content: "The PEM text.",
};

/** The document for these routes (by default the gateway's own table). */
export function openApiDocument(routes: readonly RestRoute[] = REST_ROUTES): OpenApiDocument {
  const paths: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const route of routes) {
    const operations = (paths[route.path] ??= {});
    const method = route.method.toLowerCase();
    if (operations[method]) throw new Error(`route ${route.method} ${route.path} is declared twice`);
    operations[method] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: { title: "trustplane gateway", version: "v1", description: DESCRIPTION },
    tags: TAGS,
    paths,
    components: {
      schemas: REST_SCHEMAS,
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: "http",
          scheme: "bearer",
          description: "An API key made with `trustplane keys create`, as `Authorization: Bearer <key>`.",
        },
      },
    },
  };
}

function operation(route: RestRoute): Record<string, unknown> {
  const access = route.permission
    ? `Needs the permission \`${route.permission}\`.`
    : "Open: no API key.";
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    description: route.description ? `${route.description}\n\n${access}` : access,
    ...(route.permission ? { "x-permission": route.permission } : {}),
    security: route.permission ? [{ [SECURITY_SCHEME]: [] }] : [],
    parameters: parameters(route),
    ...(route.body ? { requestBody: requestBody(route.body) } : {}),
    responses: responses(route),
  };
}

function parameters(route: RestRoute): Record<string, unknown>[] {
  const params = route.params as Readonly<Record<string, string>>;
  const inPath = Object.entries(params).map(([name, description]) => ({
    name,
    in: "path",
    required: true,
    description,
    schema: { type: "string", minLength: 1 },
  }));
  const inQuery = Object.entries(route.query).map(([name, parameter]) => ({
    name,
    in: "query",
    required: false,
    description: parameter.description,
    schema: parameter.schema,
  }));
  return [...inPath, ...inQuery];
}

function requestBody(body: RestBody): Record<string, unknown> {
  if (body.kind === "json") {
    return { required: true, content: { [JSON_CONTENT_TYPE]: { schema: stringFields(body.fields) } } };
  }
  const form = Object.fromEntries(UPLOAD_FORM_FIELDS.map((field) => [field, UPLOAD_FIELD_DOCS[field]]));
  const json = Object.fromEntries(UPLOAD_JSON_FIELDS.map((field) => [field, UPLOAD_FIELD_DOCS[field]]));
  return {
    required: true,
    description: "The PEM as a multipart form (`curl -F name=corp-ca.pem -F file=@ca.pem`) or as JSON text.",
    content: {
      "multipart/form-data": {
        schema: {
          ...stringFields(form),
          properties: {
            name: { type: "string", minLength: 1, description: UPLOAD_FIELD_DOCS.name },
            file: { type: "string", contentMediaType: "application/x-pem-file", description: UPLOAD_FIELD_DOCS.file },
          },
        },
      },
      [JSON_CONTENT_TYPE]: { schema: stringFields(json) },
    },
  };
}

function stringFields(fields: Readonly<Record<string, string>>): JsonSchema {
  return {
    type: "object",
    required: Object.keys(fields),
    properties: Object.fromEntries(
      Object.entries(fields).map(([name, description]) => [name, { type: "string", minLength: 1, description }]),
    ),
    additionalProperties: false,
  };
}

function responses(route: RestRoute): Record<string, unknown> {
  const answer = route.answer;
  const content: Record<string, unknown> = {};
  if (answer.json) content[JSON_CONTENT_TYPE] = { schema: schemaRef(answer.json) };
  if (answer.text) content[answer.text] = { schema: { type: "string" } };
  if (answer.ndjson) content[NDJSON_CONTENT_TYPE] = { schema: schemaRef(answer.ndjson) };
  const result: Record<string, unknown> = { "200": { description: answer.description, content } };
  for (const [status, reasons] of [...errorsOf(route)].sort(([a], [b]) => a - b)) {
    result[String(status)] = {
      description: `${STATUS_CODES[status]}: ${reasons.join("; ")}.`,
      content: { [JSON_CONTENT_TYPE]: { schema: schemaRef("ErrorBody") } },
    };
  }
  return result;
}

/** The route's own errors and the ones every route of its kind has. */
function errorsOf(route: RestRoute): Map<ErrorStatus, string[]> {
  const errors = new Map<ErrorStatus, string[]>();
  const add = (status: ErrorStatus, reason: string) => {
    const reasons = errors.get(status);
    if (reasons) reasons.push(reason);
    else errors.set(status, [reason]);
  };
  for (const [status, reason] of Object.entries(route.errors)) add(Number(status) as ErrorStatus, reason);
  if (Object.keys(route.params as object).length > 0) add(400, "a path parameter that is not valid percent-encoding");
  if (Object.keys(route.query).length > 0) add(400, "an unknown, repeated or malformed query parameter");
  if (route.body) {
    add(400, "a malformed body, or a field unknown, missing, not a string or empty");
    add(413, "a body larger than the gateway's limit (1 MiB unless configured)");
    add(415, route.body.kind === "upload" ? "a body neither multipart/form-data nor JSON" : "a body that is not JSON");
  }
  if (route.permission) {
    add(401, "missing or unknown API key");
    add(403, `the API key lacks ${route.permission}`);
    add(503, "the control plane (or a store behind it) is unreachable");
  }
  add(500, "an internal fault");
  return errors;
}

function schemaRef(name: SchemaName): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}
