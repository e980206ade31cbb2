import { describe, expect, it } from "vitest";
import { type CellContent, COLORS, type DrawingContext, drawRows, fitText, rowsInView, type RowsView } from "./drawRows";

/** A 2D context that records the texts drawn (with where and how) and the rectangles filled. */
function recorder() {
  const texts: { text: string; x: number; y: number; align: string; font: string }[] = [];
  const fills: { x: number; y: number; w: number; h: number; style: string }[] = [];
  const ctx = {
    font: "",
    fillStyle: "",
    strokeStyle: "",
    lineWidth: 1,
    textAlign: "left",
    textBaseline: "alphabetic",
    fillRect(x: number, y: number, w: number, h: number) {
      fills.push({ x, y, w, h, style: String(this.fillStyle) });
    },
    fillText(text: string, x: number, y: number) {
      texts.push({ text, x, y, align: String(this.textAlign), font: this.font });
    },
    save() {},
    restore() {},
    beginPath() {},
    rect() {},
    clip() {},
    roundRect() {},
    fill() {},
    stroke() {},
  };
  return { ctx: ctx as unknown as DrawingContext, texts, fills };
}

/** Every character 7 px wide in the cells' font, 6 px in the small one. */
const measure = (text: string) => text.length * 7;

function view(cells: Record<string, (row: number) => CellContent | null>, overrides: Partial<RowsView> = {}): RowsView {
  return {
    width: 400,
    height: 100,
    top: 0,
    left: 0,
    headHeight: 0,
    rowHeight: 32,
    pinnedWidth: 100,
    rowCount: 1000,
    columns: [
      { id: "name", x: 100, width: 120 },
      { id: "lr", x: 220, width: 100 },
      { id: "far", x: 320, width: 200 },
    ],
    cell: (row, column) => cells[column]?.(row) ?? null,
    background: () => null,
    font: "13px sans-serif",
    smallFont: "12px sans-serif",
    fits: (text, room) => measure(text) <= room,
    measure,
    measureSmall: (text) => text.length * 6,
    ...overrides,
  };
}

const text = (t: string, numeric = false): CellContent => ({ kind: "text", text: t, numeric });

describe("rowsInView", () => {
  it("counts the rows partly shown at either edge, and none past the last", () => {
    expect(rowsInView({ top: 0, height: 100, headHeight: 0, rowHeight: 32, rowCount: 1000 })).toEqual([0, 4]);
    expect(rowsInView({ top: 40, height: 100, headHeight: 0, rowHeight: 32, rowCount: 1000 })).toEqual([1, 5]);
    expect(rowsInView({ top: 0, height: 100, headHeight: 0, rowHeight: 32, rowCount: 2 })).toEqual([0, 2]);
    expect(rowsInView({ top: 0, height: 100, headHeight: 0, rowHeight: 32, rowCount: 0 })).toEqual([0, 0]);
  });
});

describe("fitText", () => {
  it("keeps a text that fits and cuts one that does not with an ellipsis", () => {
    expect(fitText("resnet", 42, measure)).toBe("resnet");
    expect(fitText("resnet-152", 42, measure)).toBe("resne…");
    expect(measure(fitText("resnet-152", 42, measure))).toBeLessThanOrEqual(42);
    expect(fitText("resnet-152", 3, measure)).toBe("…");
  });
});

describe("drawRows", () => {
  it("draws each row in view at its place, numbers on the right, texts on the left", () => {
    const { ctx, texts } = recorder();
    drawRows(ctx, view({ name: (r) => text(`run-${r}`), lr: (r) => text(String(r / 10), true) }, { top: 40 }));
    // Rows 1 to 4 show (40 px scrolled, 100 px high); row r's middle is r * 32 - 40 + 15.5.
    const names = texts.filter((t) => t.text.startsWith("run-"));
    expect(names.map((t) => t.text)).toEqual(["run-1", "run-2", "run-3", "run-4"]);
    expect(names.map((t) => t.y)).toEqual([7.5, 39.5, 71.5, 103.5]);
    expect(names.every((t) => t.align === "left" && t.x === 100 + 8)).toBe(true);
    const rates = texts.filter((t) => !t.text.startsWith("run-"));
    expect(rates.map((t) => t.text)).toEqual(["0.1", "0.2", "0.3", "0.4"]);
    expect(rates.every((t) => t.align === "right" && t.x === 220 + 100 - 1 - 8)).toBe(true);
  });

  it("draws only the columns in view, where the scroll puts them", () => {
    const { ctx, texts } = recorder();
    const cells = { name: () => text("n"), lr: () => text("l"), far: () => text("f") };
    drawRows(ctx, view(cells, { rowCount: 1, left: 130 }));
    // Scrolled 130 px: "name" (100-220) is under the pinned pane (0-100) now; "far" starts at 190.
    expect(texts.map((t) => [t.text, t.x])).toEqual([
      ["l", 220 - 130 + 8],
      ["f", 320 - 130 + 8],
    ]);
    const narrow = recorder();
    drawRows(narrow.ctx, view(cells, { rowCount: 1, width: 300 }));
    expect(narrow.texts.map((t) => t.text)).toEqual(["n", "l"]); // "far" starts past the right edge
  });

  it("cuts a text wider than its cell with an ellipsis, and draws a cut number on the left", () => {
    const { ctx, texts } = recorder();
    drawRows(ctx, view({ name: () => text("a-very-long-run-name"), lr: () => text("0.000123456789", true) }, { rowCount: 1 }));
    // Room: the width less padding and the border (120 - 17 = 103 px: 14 characters of 7 px).
    expect(texts[0].text).toBe("a-very-long-r…");
    expect(texts[1].text).toBe("0.00012345…");
    expect(texts[1].align).toBe("left");
  });

  it("fills the rows under the pointer or selected, and leaves the others to the table's white", () => {
    const { ctx, fills } = recorder();
    const background = (row: number) => (row === 1 ? COLORS.hovered : row === 2 ? COLORS.selected : null);
    drawRows(ctx, view({}, { background }));
    const rows = fills.filter((f) => f.x === 0 && f.w === 400 && f.h === 32);
    expect(rows).toEqual([
      { x: 0, y: 32, w: 400, h: 32, style: COLORS.hovered },
      { x: 0, y: 64, w: 400, h: 32, style: COLORS.selected },
    ]);
    expect(fills[0]).toEqual({ x: 0, y: 0, w: 400, h: 100, style: COLORS.table });
  });

  it("draws a state as a badge with its running time, and each tag", () => {
    const { ctx, texts } = recorder();
    drawRows(
      ctx,
      view(
        {
          name: (r) => (r === 0 ? { kind: "badge", label: "running", elapsed: "3m 02s" } : { kind: "badge", label: "failed", elapsed: "" }),
          lr: () => ({ kind: "tags", tags: ["best", "v2"] }),
        },
        { rowCount: 2 },
      ),
    );
    expect(texts.map((t) => t.text)).toEqual(["running 3m 02s", "best", "v2", "failed", "best", "v2"]);
    expect(texts.every((t) => t.font === "12px sans-serif")).toBe(true);
    // Tags side by side: the second starts after the first's chip (4 * 6 + 14 px) and a 4 px gap.
    expect(texts[2].x - texts[1].x).toBe(4 * 6 + 14 + 4);
  });
});
