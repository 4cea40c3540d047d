// Request bytes as UTF-8 text, strictly: bytes that are not UTF-8 are refused
// (by the caller, with its own error) rather than silently replaced.
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The text, or undefined when the bytes are not valid UTF-8. A leading BOM is dropped. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}
