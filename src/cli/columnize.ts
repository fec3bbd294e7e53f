/**
 * Text layouts of the Go libraries Consul prints tables with, so our output is byte-identical:
 * ryanuber/columnize (`members`, `operator raft list-peers`) and a two-column text/tabwriter (`kv get -detailed`).
 */

/**
 * columnize.Format with Delim "\x1f", Glue "  ": cells are trimmed, each column padded to its widest cell
 * (in code points) and joined with two spaces; a row's last cell is never padded; no trailing newline.
 */
export function columnize(rows: readonly (readonly string[])[]): string {
  const trimmed = rows.map((r) => r.map((c) => c.trim()));
  const widths: number[] = [];
  for (const row of trimmed) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...cell].length);
    });
  }
  return trimmed
    .map((row) =>
      row
        .map((cell, i) =>
          i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - [...cell].length),
        )
        .join("  "),
    )
    .join("\n");
}

/**
 * text/tabwriter (minwidth 0, padding `padding`, pad ' ') for lines of `label\tvalue`: the label column is as wide
 * as the widest label plus the padding; values are written as they are.
 */
export function tabwriteLabels(rows: readonly (readonly [string, string])[], padding: number): string {
  const width = Math.max(0, ...rows.map(([label]) => [...label].length)) + padding;
  return rows.map(([label, value]) => label + " ".repeat(width - [...label].length) + value).join("\n");
}
