// Query parameters declared per route as a schema of parsers. A parameter the
// route does not declare, a repeated one, or one that does not parse is a 400.
import { HttpError } from "./error-body.js";

/** Turns the raw text of one parameter into its value, or throws a 400. */
export type QueryParser<T> = (name: string, raw: string) => T;

export type QuerySchema = Readonly<Record<string, QueryParser<unknown>>>;

export type ParsedQuery<Schema extends QuerySchema> = {
  readonly [Name in keyof Schema]?: ReturnType<Schema[Name]>;
};

export function parseQuery<Schema extends QuerySchema>(schema: Schema, search: URLSearchParams): ParsedQuery<Schema> {
  const parsed: Record<string, unknown> = {};
  for (const name of new Set(search.keys())) {
    const parser = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!parser) {
      const known = Object.keys(schema);
      throw new HttpError(
        400,
        `unknown query parameter "${name}"`,
        known.length === 0 ? "this route takes no query parameters" : `this route takes ${known.join(", ")}`,
      );
    }
    const values = search.getAll(name);
    if (values.length > 1) throw new HttpError(400, `query parameter "${name}" given more than once`, "give it once");
    parsed[name] = parser(name, values[0]!);
  }
  return parsed as ParsedQuery<Schema>;
}

const MAX_UINT32 = 0xffff_ffff;

/** A whole number of seconds (the control plane applies the default and the cap). */
export const seconds: QueryParser<number> = (name, raw) => {
  const value = /^\d{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value > MAX_UINT32) {
    throw new HttpError(400, `query parameter "${name}" must be a whole number of seconds`, `got "${raw}"`);
  }
  return value;
};

export const boolean: QueryParser<boolean> = (name, raw) => {
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw new HttpError(400, `query parameter "${name}" must be true or false`, `got "${raw}"`);
};

/** One of a fixed set of words, mapped to a value (an enum of the wire contract). */
export function oneOf<T>(choices: Readonly<Record<string, T>>): QueryParser<T> {
  return (name, raw) => {
    if (Object.hasOwn(choices, raw)) return choices[raw]!;
    throw new HttpError(
      400,
      `query parameter "${name}" must be one of ${Object.keys(choices).join(", ")}`,
      `got "${raw}"`,
    );
  };
}
