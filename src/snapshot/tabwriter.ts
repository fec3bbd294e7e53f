/**
 * A port of the layout rules of Go's text/tabwriter (no flags, space padding), which `consul snapshot inspect`
 * uses for its pretty output. Tab-terminated cells in consecutive lines form a column block; each block is as
 * wide as its widest cell plus padding (at least minWidth). A line's last cell is not tab-terminated and is
 * never padded, so lines carry no trailing spaces.
 */

export interface TabwriterOptions {
  readonly minWidth: number;
  readonly padding: number;
}

interface Cell {
  readonly text: string;
  /** Width in code points, as Go counts runes. */
  readonly width: number;
}

function toLines(text: string): Cell[][] {
  return text.split("\n").map((line) => line.split("\t").map((t) => ({ text: t, width: [...t].length })));
}

class Layout {
  private readonly widths: number[] = [];
  private out = "";

  constructor(
    private readonly lines: readonly Cell[][],
    private readonly opts: TabwriterOptions,
  ) {}

  render(): string {
    this.format(0, this.lines.length);
    return this.out;
  }

  /** Go's Writer.format: find each column block of the current column, size it, recurse into the next. */
  private format(line0: number, line1: number): void {
    const column = this.widths.length;
    let start = line0;
    for (let i = start; i < line1; i++) {
      if (column >= (this.lines[i] as Cell[]).length - 1) continue;
      // Line i opens a block in this column: lines before it are done.
      this.writeLines(start, i);
      start = i;
      let width = this.opts.minWidth;
      for (; i < line1; i++) {
        const line = this.lines[i] as Cell[];
        if (column >= line.length - 1) break;
        width = Math.max(width, (line[column] as Cell).width + this.opts.padding);
      }
      this.widths.push(width);
      this.format(start, i);
      this.widths.pop();
      // Line i (if any) closed the block and has no cell in this column: the loop's i++ may skip it.
      start = i;
    }
    this.writeLines(start, line1);
  }

  private writeLines(line0: number, line1: number): void {
    for (let i = line0; i < line1; i++) {
      const line = this.lines[i] as Cell[];
      line.forEach((cell, j) => {
        this.out += cell.text;
        const w = this.widths[j];
        if (j < line.length - 1 && w !== undefined) this.out += " ".repeat(w - cell.width);
      });
      if (i + 1 < this.lines.length) this.out += "\n";
    }
  }
}

/** Lays out tab-separated text as Go's tabwriter.NewWriter(w, minWidth, 8, padding, ' ', 0) would. */
export function tabwrite(text: string, opts: TabwriterOptions): string {
  return new Layout(toLines(text), opts).render();
}
