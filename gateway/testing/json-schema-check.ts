// Checks a JSON value against the subset of JSON Schema the gateway's OpenAPI
// document uses ($ref into components, type, required, properties,
// additionalProperties, items, enum, const, oneOf, minimum, maximum, minLength,
// pattern, format date-time and uuid), so tests can hold the real answers
// against the documented ones. Unknown keywords are an error, so the document
// cannot outgrow what is checked.
import type { JsonSchema } from "../rest-schemas.js";

const KNOWN = new Set([
  "$ref",
  "type",
  "required",
  "properties",
  "additionalProperties",
  "items",
  "enum",
  "const",
  "oneOf",
  "minimum",
  "maximum",
  "minLength",
  "pattern",
  "format",
  "description",
  "examples",
  "contentMediaType",
]);

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every way `value` breaks `schema`, as "path: reason"; empty when it conforms. */
export function schemaViolations(
  value: unknown,
  schema: JsonSchema,
  components: Readonly<Record<string, JsonSchema>>,
  path = "$",
): string[] {
  for (const keyword of Object.keys(schema)) {
    if (!KNOWN.has(keyword)) return [`${path}: the checker does not know the keyword "${keyword}"`];
  }
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace("#/components/schemas/", "");
    const target = components[name];
    if (!target) return [`${path}: unresolved $ref ${schema.$ref}`];
    return schemaViolations(value, target, components, path);
  }
  if (Array.isArray(schema.oneOf)) {
    const matching = (schema.oneOf as JsonSchema[]).filter(
      (option) => schemaViolations(value, option, components, path).length === 0,
    );
    return matching.length === 1 ? [] : [`${path}: matches ${matching.length} of the oneOf schemas, not exactly 1`];
  }
  const violations: string[] = [];
  if ("const" in schema && value !== schema.const) violations.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    violations.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  switch (schema.type) {
    case undefined:
      break;
    case "string":
      if (typeof value !== "string") return [`${path}: must be a string`];
      if (typeof schema.minLength === "number" && value.length < schema.minLength) violations.push(`${path}: too short`);
      if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) {
        violations.push(`${path}: does not match ${schema.pattern}`);
      }
      if (schema.format === "date-time" && !(RFC3339.test(value) && !Number.isNaN(Date.parse(value)))) {
        violations.push(`${path}: "${value}" is not an RFC 3339 date-time`);
      }
      if (schema.format === "uuid" && !UUID.test(value)) violations.push(`${path}: "${value}" is not a UUID`);
      break;
    case "integer":
    case "number":
      if (typeof value !== "number" || (schema.type === "integer" && !Number.isInteger(value))) {
        return [`${path}: must be ${schema.type === "integer" ? "an integer" : "a number"}`];
      }
      if (typeof schema.minimum === "number" && value < schema.minimum) violations.push(`${path}: below ${schema.minimum}`);
      if (typeof schema.maximum === "number" && value > schema.maximum) violations.push(`${path}: above ${schema.maximum}`);
      break;
    case "boolean":
      if (typeof value !== "boolean") return [`${path}: must be a boolean`];
      break;
    case "array":
      if (!Array.isArray(value)) return [`${path}: must be an array`];
      if (schema.items) {
        value.forEach((item, index) =>
          violations.push(...schemaViolations(item, schema.items as JsonSchema, components, `${path}[${index}]`)),
        );
      }
      break;
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${path}: must be an object`];
      const record = value as Record<string, unknown>;
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      for (const name of (schema.required ?? []) as string[]) {
        if (!(name in record)) violations.push(`${path}: missing "${name}"`);
      }
      for (const [name, item] of Object.entries(record)) {
        const property = properties[name];
        if (property) {
          violations.push(...schemaViolations(item, property, components, `${path}.${name}`));
        } else if (schema.additionalProperties === false) {
          violations.push(`${path}: unexpected "${name}"`);
        } else if (typeof schema.additionalProperties === "object") {
          violations.push(...schemaViolations(item, schema.additionalProperties as JsonSchema, components, `${path}.${name}`));
        }
      }
      break;
    }
    default:
      violations.push(`${path}: the checker does not know the type ${JSON.stringify(schema.type)}`);
  }
  return violations;
}
