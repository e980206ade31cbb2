// Tick labels for number axes. uPlot's own labels are Intl's default format, at most three
// decimals: a loss falling from 0.0012 to 0.0011 got ticks that all read "0.001", and on a log axis
// 1e-4 read "0". Each label here carries the decimals its tick spacing needs.

const fixedFormats = new Map<number, Intl.NumberFormat>();

function fixedFormat(decimals: number): Intl.NumberFormat {
  let format = fixedFormats.get(decimals);
  if (!format) {
    format = new Intl.NumberFormat("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    fixedFormats.set(decimals, format);
  }
  return format;
}

/** Digits after the point that `value` needs: 2.5e-4 needs 5, 0.1 needs 1, 20 none. */
export function decimalsOf(value: number): number {
  if (!Number.isFinite(value) || value === 0) return 0;
  // Six significant digits first: a spacing of 0.1 + 0.2 is 0.3, not 0.30000000000000004.
  const [mantissa, exponent] = Number(Math.abs(value).toPrecision(6)).toExponential().split("e");
  return Math.max(0, (mantissa.split(".")[1]?.length ?? 0) - Number(exponent));
}

/** Past this many decimals (or this size) a label is written in exponent form: 1e-7, 2.5e+15. */
const MAX_DECIMALS = 6;
const MAX_FIXED = 1e15;

export function formatTick(value: number, decimals: number): string {
  if (value === 0) return "0"; // -0 too
  if (decimals > MAX_DECIMALS || Math.abs(value) >= MAX_FIXED) return Number(value.toPrecision(6)).toExponential();
  return fixedFormat(decimals).format(value);
}

/**
 * A label per tick of a number axis: on a linear axis every label has the decimals of the spacing
 * (0.6915, 0.6920, 0.6925); on a log axis each tick has its own (0.0001, 0.001, 0.01).
 */
export function numberTickLabels(splits: (number | null)[], spacing: number, log: boolean): string[] {
  return splits.map((v) => (v === null ? "" : formatTick(v, decimalsOf(log ? v : spacing))));
}
