// Draws the runs table's scrolling cells (every column but the pinned ones) on a canvas.
//
// As elements, each scrolled frame of a 10,000-run table replaced the cells of the rows it scrolled
// in: React rendered them, the browser styled, laid out and painted them, and its raster thread
// drew the new tiles. On the 2-core machine the bench runs on, that dropped frames, and so did a
// page of plain rows with no script at all (bench/README.md, "Sixth session"). Drawn here, a frame
// is one pass over the cells in view, with no element, no layout and no tile to raster.
//
// What the cells hold is the page's business (RowsView.cell); this module only draws it, with the
// look of the table's stylesheet (.grid-row, .grid-cell, .badge, .tag in styles.css).

/** What a cell shows. */
export type CellContent =
  | { kind: "text"; text: string; numeric: boolean }
  | { kind: "badge"; label: string; elapsed: string }
  | { kind: "tags"; tags: string[] };

/** A scrolling column: where it starts in the table (pinned columns included) and its width. */
export interface DrawColumn {
  id: string;
  x: number;
  width: number;
}

/** The subset of CanvasRenderingContext2D drawn with (a recording fake in the tests). */
export type DrawingContext = Pick<
  CanvasRenderingContext2D,
  "font" | "fillStyle" | "textAlign" | "textBaseline" | "fillRect" | "fillText" | "save" | "restore" | "beginPath" | "rect" | "clip" | "roundRect" | "fill" | "stroke" | "strokeStyle" | "lineWidth"
>;

export interface RowsView {
  /** The canvas's size in CSS pixels: the table's viewport. */
  width: number;
  height: number;
  /** The table's scroll offsets. */
  top: number;
  left: number;
  /** The header's height: rows start below it. */
  headHeight: number;
  rowHeight: number;
  /** Width of the pinned columns' pane, drawn over the canvas's left edge. */
  pinnedWidth: number;
  rowCount: number;
  columns: DrawColumn[];
  /** What row `row` shows in column `column`, or null for an empty cell. */
  cell: (row: number, column: string) => CellContent | null;
  /** The row's background (selected, under the pointer) or null for the table's. */
  background: (row: number) => string | null;
  /** Fonts of the cells, and of badges and tags, as CSS `font` values. */
  font: string;
  smallFont: string;
  /** Whether a text in `font` fits `room` CSS pixels (quicker than measuring it, for most numbers). */
  fits: (text: string, room: number) => boolean;
  /** Width of a text in `font`, in CSS pixels; and in `smallFont`. */
  measure: (text: string) => number;
  measureSmall: (text: string) => number;
}

// The stylesheet's colours and sizes (styles.css), as the elements drew them.
export const COLORS = {
  text: "#1d2430",
  table: "#fff",
  rowLine: "#f0f1f3",
  cellLine: "#f3f4f6",
  selected: "#edf2ff",
  hovered: "#f8f9fa",
  tag: "#f1f3f5",
  tagLine: "#e3e6ea",
};
const BADGES: Record<string, [string, string]> = {
  running: ["#d3f9d8", "#2b8a3e"],
  failed: ["#ffe3e3", "#c92a2a"],
  crashed: ["#fff3bf", "#e67700"],
  finished: ["#e7ecff", "#364fc7"],
};
const DEFAULT_BADGE: [string, string] = ["#eef0f3", COLORS.text];
/** .grid-cell's horizontal padding. */
const PAD = 8;
const ELLIPSIS = "…";

/** The first row, and the row after the last, that show in the view. */
export function rowsInView(view: Pick<RowsView, "top" | "height" | "headHeight" | "rowHeight" | "rowCount">): [number, number] {
  const first = Math.max(0, Math.floor(view.top / view.rowHeight));
  const end = Math.min(view.rowCount, Math.ceil((view.top + view.height - view.headHeight) / view.rowHeight));
  return [first, Math.max(first, end)];
}

/**
 * `text` cut to fit `room` pixels with an ellipsis, as `text-overflow: ellipsis` cuts it: the
 * longest start of it that fits with the ellipsis after it (the ellipsis alone where none does).
 */
export function fitText(text: string, room: number, measure: (text: string) => number): string {
  if (measure(text) <= room) return text;
  let low = 0;
  let high = text.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (measure(text.slice(0, mid) + ELLIPSIS) <= room) low = mid;
    else high = mid - 1;
  }
  return text.slice(0, low) + ELLIPSIS;
}

/** Draws the view: the background, then each row in view, its cells clipped to their columns. */
export function drawRows(ctx: DrawingContext, view: RowsView): void {
  ctx.fillStyle = COLORS.table;
  ctx.fillRect(0, 0, view.width, view.height);
  const [first, end] = rowsInView(view);
  // The columns in view: their left edges, less the scroll, are where they are drawn.
  const columns = view.columns.filter((c) => c.x + c.width - view.left > view.pinnedWidth && c.x - view.left < view.width);
  ctx.textBaseline = "middle";
  for (let row = first; row < end; row++) {
    const y = view.headHeight + row * view.rowHeight - view.top;
    const background = view.background(row);
    if (background !== null) {
      ctx.fillStyle = background;
      ctx.fillRect(0, y, view.width, view.rowHeight);
    }
    for (const column of columns) {
      const x = column.x - view.left;
      drawCell(ctx, view, view.cell(row, column.id), x, y, column.width);
      ctx.fillStyle = COLORS.cellLine;
      ctx.fillRect(x + column.width - 1, y, 1, view.rowHeight - 1);
    }
    ctx.fillStyle = COLORS.rowLine;
    ctx.fillRect(0, y + view.rowHeight - 1, view.width, 1);
  }
}

function drawCell(ctx: DrawingContext, view: RowsView, content: CellContent | null, x: number, y: number, width: number): void {
  if (content === null) return;
  const room = width - 2 * PAD - 1;
  const middle = y + (view.rowHeight - 1) / 2;
  if (content.kind === "text") {
    const text = view.fits(content.text, room) ? content.text : fitText(content.text, room, view.measure);
    ctx.font = view.font;
    ctx.fillStyle = COLORS.text;
    // Numbers right-aligned, as `.num` aligns them; a cut text starts at the left like any other.
    const right = content.numeric && text === content.text;
    ctx.textAlign = right ? "right" : "left";
    ctx.fillText(text, right ? x + width - 1 - PAD : x + PAD, middle);
    return;
  }
  // Badges and tags: rounded chips in the small font, clipped to the cell.
  ctx.save();
  ctx.beginPath();
  ctx.rect(x, y, width - 1, view.rowHeight - 1);
  ctx.clip();
  ctx.font = view.smallFont;
  ctx.textAlign = "left";
  if (content.kind === "badge") {
    const [fill, color] = BADGES[content.label] ?? DEFAULT_BADGE;
    const text = content.elapsed ? `${content.label} ${content.elapsed}` : content.label;
    chip(ctx, view, text, x + PAD, middle, fill, color, null);
  } else {
    let left = x + PAD;
    for (const tag of content.tags) {
      if (left > x + width) break;
      left += chip(ctx, view, tag, left, middle, COLORS.tag, COLORS.text, COLORS.tagLine) + 4;
    }
  }
  ctx.restore();
}

/** A chip (padding 7px, radius 10px, 18px high) with `text` in it; returns its width. */
function chip(
  ctx: DrawingContext,
  view: RowsView,
  text: string,
  x: number,
  middle: number,
  fill: string,
  color: string,
  line: string | null,
): number {
  const width = view.measureSmall(text) + 14;
  ctx.beginPath();
  ctx.roundRect(x, middle - 9, width, 18, 9);
  ctx.fillStyle = fill;
  ctx.fill();
  if (line !== null) {
    ctx.strokeStyle = line;
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  ctx.fillStyle = color;
  ctx.fillText(text, x + 7, middle);
  return width;
}
