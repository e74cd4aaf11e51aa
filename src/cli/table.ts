/** A plain text table for people: columns padded to their widest cell, long cells cut. */
export function table(headers: string[], rows: (string | number | undefined)[][], maxWidth = 60): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => clip(cell === undefined ? '' : String(cell), maxWidth)))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ').trimEnd())
    .join('\n');
}

function clip(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}
