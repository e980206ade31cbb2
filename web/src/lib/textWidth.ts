// Widths of single-line texts in the page's font, measured on a canvas and remembered: the runs
// table asks for each value cell it mounts, to clip only cells whose text would overflow.

/** Distinct texts remembered before the memory is emptied (a 10,000-run table holds ~300,000). */
const MAX_REMEMBERED = 100_000;

let context: CanvasRenderingContext2D | null | undefined;
let font = "";
const widths = new Map<string, number>();

function measurer(): CanvasRenderingContext2D | null {
  if (context === undefined) {
    // jsdom and some locked-down browsers have no 2D canvas: every text then counts as too wide.
    try {
      context = document.createElement("canvas").getContext("2d");
    } catch {
      context = null;
    }
  }
  return context;
}

/**
 * The width in CSS pixels of `text` drawn in `cssFont` (a computed `font` value), or Infinity where
 * it cannot be measured. Measuring costs a microsecond or two; repeated texts cost a map lookup.
 */
export function textWidth(text: string, cssFont: string): number {
  const ctx = measurer();
  if (!ctx) return Infinity;
  if (cssFont !== font) {
    font = cssFont;
    ctx.font = cssFont;
    widths.clear();
  }
  let width = widths.get(text);
  if (width === undefined) {
    if (widths.size >= MAX_REMEMBERED) widths.clear();
    width = ctx.measureText(text).width;
    widths.set(text, width);
  }
  return width;
}
