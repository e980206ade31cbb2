import { describe, expect, it } from "vitest";
import { slottedRows, windowSize } from "./rowSlots";

describe("slottedRows", () => {
  it("renders a window of consecutive rows, each in its own slot", () => {
    const rows = slottedRows(10, 8, 100);
    expect(rows.map((r) => r.index).sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    expect(new Set(rows.map((r) => r.slot)).size).toBe(8);
  });

  it("gives a row scrolled in the slot of the row scrolled out, and keeps the others' slots", () => {
    const before = new Map(slottedRows(10, 8, 100).map((r) => [r.index, r.slot]));
    const after = new Map(slottedRows(13, 8, 100).map((r) => [r.index, r.slot]));
    for (const [index, slot] of after) {
      if (before.has(index)) expect(slot).toBe(before.get(index));
    }
    // Rows 10-12 left; rows 18-20 came in, in their slots.
    expect([18, 19, 20].map((i) => after.get(i))).toEqual([10, 11, 12].map((i) => before.get(i)));
  });

  it("orders rows by slot, so the rendered children never change order", () => {
    const slots = slottedRows(13, 8, 100).map((r) => r.slot);
    expect(slots).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("keeps the window inside the list at its end, and renders a short list whole", () => {
    expect(slottedRows(97, 8, 100).map((r) => r.index).sort((a, b) => a - b)).toEqual([92, 93, 94, 95, 96, 97, 98, 99]);
    expect(slottedRows(0, 8, 3).map((r) => r.index)).toEqual([0, 1, 2]);
    expect(slottedRows(5, 8, 0)).toEqual([]);
  });
});

describe("windowSize", () => {
  it("counts the rows a window shows at any offset, and the overscan at both ends", () => {
    // 1,000 px of 32 px rows: 31.25 rows, so 32 or 33 rows are partly shown.
    expect(windowSize(1000, 32, 6)).toBe(33 + 12);
    expect(windowSize(320, 32, 0)).toBe(11);
  });
});
