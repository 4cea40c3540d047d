// Query parameters declared per route as a schema of parameters, each with its
// parser, its JSON Schema and its description (the OpenAPI document is built from
// them). A parameter the route does not declare, a repeated one, or one that does
// not parse is a 400 naming the parameter.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HostLimitSchema } from "../gen/trustplane/v1/common_pb.js";
import { HttpError } from "./error-body.js";
import type { JsonSchema } from "./rest-schemas.js";

export interface QueryParameter<T> {
  /** Turns the raw text of the parameter into its value, or throws a 400. */
  parse(name: string, raw: string): T;
  /** JSON Schema of the parameter's text, for the OpenAPI document. */
  readonly schema: JsonSchema;
  readonly description: string;
}

export type QuerySchema = Readonly<Record<string, QueryParameter<unknown>>>;

export type ParsedQuery<Schema extends QuerySchema> = {
  readonly [Name in keyof Schema]?: Schema[Name] extends QueryParameter<infer T> ? T : never;
};

export function parseQuery<Schema extends QuerySchema>(schema: Schema, search: URLSearchParams): ParsedQuery<Schema> {
  const parsed: Record<string, unknown> = {};
  for (const name of new Set(search.keys())) {
    const parameter = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!parameter) {
      const known = Object.keys(schema);
      throw new HttpError(
        400,
        `unknown query parameter "${name}"`,
        known.length === 0 ? "this route takes no query parameters" : `this route takes ${known.join(", ")}`,
      );
    }
    const values = search.getAll(name);
    if (values.length > 1) throw new HttpError(400, `query parameter "${name}" given more than once`, "give it once");
    parsed[name] = parameter.parse(name, values[0]!);
  }
  return parsed as ParsedQuery<Schema>;
}

const MAX_UINT32 = 0xffff_ffff;

function uint32(raw: string): number | undefined {
  const value = /^\d{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(value) && value <= MAX_UINT32 ? value : undefined;
}

/**
 * A whole number of seconds. The control plane applies the default and refuses
 * values above its maximum (one place decides); `maximum` only documents it.
 */
export function seconds(description: string, maximum = MAX_UINT32): QueryParameter<number> {
  return {
    description,
    schema: { type: "integer", minimum: 0, maximum },
    parse(name, raw) {
      const value = uint32(raw);
      if (value === undefined) {
        throw new HttpError(400, `query parameter "${name}" must be a whole number of seconds`, `got "${raw}"`);
      }
      return value;
    },
  };
}

/** A whole number such as a page size or an offset. */
export function wholeNumber(description: string): QueryParameter<number> {
  return {
    description,
    schema: { type: "integer", minimum: 0, maximum: MAX_UINT32 },
    parse(name, raw) {
      const value = uint32(raw);
      if (value === undefined) throw new HttpError(400, `query parameter "${name}" must be a whole number`, `got "${raw}"`);
      return value;
    },
  };
}

export function boolean(description: string): QueryParameter<boolean> {
  return {
    description,
    schema: { type: "boolean" },
    parse(name, raw) {
      if (raw === "true") return true;
      if (raw === "false") return false;
      throw new HttpError(400, `query parameter "${name}" must be true or false`, `got "${raw}"`);
    },
  };
}

/** Any non-empty text; what it means is for the control plane to judge. */
export function text(description: string): QueryParameter<string> {
  return {
    description,
    schema: { type: "string", minLength: 1 },
    parse(name, raw) {
      if (raw.length === 0) throw new HttpError(400, `query parameter "${name}" must not be empty`, "leave it out instead");
      return raw;
    },
  };
}

/** One of a fixed set of words, mapped to a value (an enum of the wire contract). */
export function oneOf<T>(choices: Readonly<Record<string, T>>, description: string): QueryParameter<T> {
  const words = Object.keys(choices);
  return {
    description,
    schema: { type: "string", enum: words },
    parse(name, raw) {
      if (Object.hasOwn(choices, raw)) return choices[raw]!;
      throw new HttpError(400, `query parameter "${name}" must be one of ${words.join(", ")}`, `got "${raw}"`);
    },
  };
}

export type HostLimitInit = MessageInitShape<typeof HostLimitSchema>;

/**
 * A number of hosts `N` or a percentage of the matched hosts `N%` (0 to 100), as
 * the HostLimit of JobOptions. `minimumCount` refuses smaller absolute numbers
 * (a concurrency of 0 hosts would never start anything).
 */
export function hostLimit(description: string, minimumCount: number): QueryParameter<HostLimitInit> {
  return {
    description,
    schema: { type: "string", pattern: "^[0-9]{1,10}%?$", examples: ["10", "25%"] },
    parse(name, raw) {
      const percent = raw.endsWith("%");
      const value = uint32(percent ? raw.slice(0, -1) : raw);
      if (value === undefined) {
        throw new HttpError(
          400,
          `query parameter "${name}" must be a number of hosts or a percentage (N or N%)`,
          `got "${raw}"`,
        );
      }
      if (percent) {
        if (value > 100) throw new HttpError(400, `query parameter "${name}" must be a percentage from 0% to 100%`, `got "${raw}"`);
        return { limit: { case: "percent", value } };
      }
      if (value < minimumCount) {
        throw new HttpError(400, `query parameter "${name}" must be at least ${minimumCount}`, `got "${raw}"`);
      }
      return { limit: { case: "count", value } };
    },
  };
}
