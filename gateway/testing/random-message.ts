// fast-check arbitraries of valid protobuf messages of any type, built from the
// protobuf-es descriptors: every field kind (scalars, enums including values the
// enum does not name, messages, lists, maps, oneofs), unicode strings, extreme
// numbers, and Timestamps within their documented range. The chaos control plane
// of the REST fuzz test answers with them.
import { create, ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import fc from "fast-check";

export interface RandomMessageOptions {
  /** Message fields nested deeper than this are left unset. */
  maxDepth?: number;
  /** Set every message field at the top level (the fields a response must carry). */
  topLevelMessagesSet?: boolean;
}

const TIMESTAMP = "google.protobuf.Timestamp";
const DURATION = "google.protobuf.Duration";
/** 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, as google/protobuf/timestamp.proto requires. */
const TIMESTAMP_SECONDS = { min: -62_135_596_800n, max: 253_402_300_799n };
const NANOS = { min: 0, max: 999_999_999 };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };
const UINT64 = { min: 0n, max: 2n ** 64n - 1n };

const cache = new WeakMap<DescMessage, Map<string, fc.Arbitrary<Message>>>();

export function arbitraryMessage(schema: DescMessage, options: RandomMessageOptions = {}): fc.Arbitrary<Message> {
  const key = `${options.maxDepth ?? 3}:${options.topLevelMessagesSet ?? false}`;
  let bySchema = cache.get(schema);
  if (!bySchema) cache.set(schema, (bySchema = new Map()));
  let arbitrary = bySchema.get(key);
  if (!arbitrary) {
    arbitrary = messageOf(schema, options.maxDepth ?? 3, options.topLevelMessagesSet ?? false);
    bySchema.set(key, arbitrary);
  }
  return arbitrary;
}

function messageOf(schema: DescMessage, depth: number, messagesSet: boolean): fc.Arbitrary<Message> {
  if (schema.typeName === TIMESTAMP) {
    return fc
      .record({ seconds: fc.bigInt(TIMESTAMP_SECONDS), nanos: fc.integer(NANOS) })
      .map((init) => create(schema, init as never));
  }
  if (schema.typeName === DURATION) {
    return fc
      .record({ seconds: fc.bigInt({ min: 0n, max: 315_576_000_000n }), nanos: fc.integer(NANOS) })
      .map((init) => create(schema, init as never));
  }
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of schema.fields) {
    if (field.oneof) continue;
    const value = fieldValue(field, depth);
    if (value === undefined) continue;
    const required = messagesSet && field.fieldKind === "message";
    parts[field.localName] = required ? value : fc.option(value, { nil: undefined, freq: 3 });
  }
  for (const oneof of schema.oneofs) {
    const cases = oneof.fields.flatMap((field) => {
      const value = fieldValue(field, depth);
      return value === undefined ? [] : [value.map((v) => ({ case: field.localName, value: v }))];
    });
    if (cases.length > 0) parts[oneof.localName] = fc.oneof(fc.constant(undefined), ...cases);
  }
  return fc.record(parts).map((init) => {
    for (const name of Object.keys(init)) if (init[name] === undefined) delete init[name];
    return create(schema, init as never);
  });
}

function fieldValue(field: DescField, depth: number): fc.Arbitrary<unknown> | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return scalar(field.scalar, field.longAsString);
    case "enum":
      return enumValue(field.enum.values.map((value) => value.number));
    case "message":
      return depth > 0 ? messageOf(field.message, depth - 1, false) : undefined;
    case "list": {
      const item =
        field.listKind === "scalar"
          ? scalar(field.scalar, field.longAsString)
          : field.listKind === "enum"
            ? enumValue(field.enum.values.map((value) => value.number))
            : depth > 0
              ? messageOf(field.message, depth - 1, false)
              : undefined;
      return item && fc.array(item, { maxLength: 4 });
    }
    case "map": {
      const value =
        field.mapKind === "scalar"
          ? scalar(field.scalar, false)
          : field.mapKind === "enum"
            ? enumValue(field.enum.values.map((value) => value.number))
            : depth > 0
              ? messageOf(field.message, depth - 1, false)
              : undefined;
      if (!value) return undefined;
      const mapKey = scalar(field.mapKey, true).map(String);
      return fc.dictionary(mapKey, value, { maxKeys: 4 });
    }
  }
}

function enumValue(numbers: readonly number[]): fc.Arbitrary<number> {
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...numbers) }, { weight: 1, arbitrary: fc.integer({ min: -5, max: 1000 }) });
}

function scalar(type: ScalarType, longAsString: boolean): fc.Arbitrary<unknown> {
  const long = (range: { min: bigint; max: bigint }) => {
    const value = fc.oneof(fc.bigInt(range), fc.constantFrom(range.min, range.max, 0n));
    return longAsString ? value.map(String) : value;
  };
  switch (type) {
    case ScalarType.STRING:
      return fc.oneof(
        { weight: 3, arbitrary: fc.string({ unit: "grapheme", maxLength: 16 }) },
        { weight: 1, arbitrary: fc.constantFrom("", "__proto__", "constructor", "..", "../../etc/passwd", "a\u0000b", "\u202e") },
      );
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 32 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.DOUBLE:
      return fc.double();
    case ScalarType.FLOAT:
      return fc.float();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.integer();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 0xffff_ffff));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return long(INT64);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return long(UINT64);
  }
}
