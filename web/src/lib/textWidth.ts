// Widths of single-line texts in the page's font, measured on a canvas and remembered: the runs
// table asks for each value cell it mounts, to clip only cells whose text would overflow.

/** Distinct texts remembered before the memory is emptied (a 10,000-run table holds ~300,000). */
const MAX_REMEMBERED = 100_000;
/** The characters of formatted numbers: a text of these only is at most its length times the
 * widest of them, which answers most cells without measuring (a measure costs microseconds). */
const NUMBER_TEXT = /^[-+0-9.eE]*$/;
const NUMBER_CHARS = "-+0123456789.eE";

let context: CanvasRenderingContext2D | null | undefined;
let font = "";
/** Per font: the widest number character, and the widths measured. */
const fonts = new Map<string, { widestNumberChar: number; widths: Map<string, number> }>();

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

/** The font's measures, with the canvas set to draw in it. */
function useFont(ctx: CanvasRenderingContext2D, cssFont: string): { widestNumberChar: number; widths: Map<string, number> } {
  if (cssFont !== font) {
    font = cssFont;
    ctx.font = cssFont;
  }
  let measures = fonts.get(cssFont);
  if (measures === undefined) {
    measures = { widestNumberChar: Math.max(...Array.from(NUMBER_CHARS, (c) => ctx.measureText(c).width)), widths: new Map() };
    fonts.set(cssFont, measures);
  }
  return measures;
}

/**
 * The width in CSS pixels of `text` drawn in `cssFont` (a computed `font` value), or Infinity where
 * it cannot be measured. Measuring costs a microsecond or two; repeated texts cost a map lookup.
 */
export function textWidth(text: string, cssFont: string): number {
  const ctx = measurer();
  if (!ctx) return Infinity;
  const { widths } = useFont(ctx, cssFont);
  let width = widths.get(text);
  if (width === undefined) {
    if (widths.size >= MAX_REMEMBERED) widths.clear();
    width = ctx.measureText(text).width;
    widths.set(text, width);
  }
  return width;
}

/** Whether `text` drawn in `cssFont` is at most `room` pixels wide; false where it cannot be told. */
export function textFits(text: string, cssFont: string, room: number): boolean {
  const ctx = measurer();
  if (!ctx) return false;
  const { widestNumberChar } = useFont(ctx, cssFont);
  // A number's characters have no kerning to speak of: its length times the widest bounds it.
  if (NUMBER_TEXT.test(text) && text.length * widestNumberChar <= room) return true;
  return textWidth(text, cssFont) <= room;
}
