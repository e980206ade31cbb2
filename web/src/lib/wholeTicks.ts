// Ticks for an axis of whole numbers (trial numbers): "2.5" under a chart of trials names a trial
// that cannot exist.

/** Tick spacings that are whole numbers: 1, 2, 5, 10, 20, 50, ... up to 5 x 10^15. */
export const WHOLE_INCREMENTS: number[] = Array.from({ length: 16 }, (_, power) => [1, 2, 5].map((m) => m * 10 ** power)).flat();

/**
 * A label per tick: the number where the tick is a whole number, nothing where it is not (uPlot
 * may still place one between two wholes when the range is narrower than one step).
 */
export function wholeTickLabels(splits: number[]): string[] {
  return splits.map((v) => (Number.isInteger(v) ? v.toLocaleString("en-US") : ""));
}
