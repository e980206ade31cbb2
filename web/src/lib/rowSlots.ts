// Which rows of a virtualised list to render, and in which slot (React key) each goes, so that a
// row scrolled out of the window hands its elements to the row scrolled in.

/** A row to render: its index in the list and the slot it is rendered in. */
export interface SlottedRow {
  index: number;
  slot: number;
}

/**
 * `size` consecutive rows from `first` (moved back so the window stays inside the list), each in
 * slot `index % size`, ordered by slot.
 *
 * Keyed by run, a scrolled frame unmounted the rows that left and mounted as many new ones: new
 * elements, fibers and DOM nodes every frame (about 160 KB), and the garbage collector's pauses
 * were most of the frames that missed their deadline. With a window of a fixed size, the row that
 * leaves at one end and the one that enters at the other share a slot, so React updates that
 * slot's cells in place. Ordered by slot, the children never change order, so React never moves
 * a DOM node either.
 */
export function slottedRows(first: number, size: number, count: number): SlottedRow[] {
  if (size <= 0 || count <= 0) return [];
  const start = Math.max(0, Math.min(first, count - size));
  const end = Math.min(count, start + size);
  const rows: SlottedRow[] = [];
  for (let index = start; index < end; index++) rows.push({ index, slot: index % size });
  return rows.sort((a, b) => a.slot - b.slot);
}

/**
 * Rows a window of `height` pixels shows at any scroll position (a partly shown row at each end),
 * and `overscan` more at each end.
 */
export function windowSize(height: number, rowHeight: number, overscan: number): number {
  return Math.ceil(height / rowHeight) + 1 + 2 * overscan;
}
