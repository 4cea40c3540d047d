// Columns padded to their widest cell, two spaces apart, no trailing blanks.

export function textTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd();
  return [header, ...rows].map(line).join("\n") + "\n";
}

/** A value for one table cell: whitespace (newlines of a tool's stderr) collapsed. */
export function cell(text: string | undefined): string {
  return (text ?? "").replace(/\s+/g, " ").trim();
}
