import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import type { TableRow } from "../api/rowPage";
import { formatValue, numeric, tagsOf } from "../api/wire";
import { type CellContent, COLORS, type DrawColumn, drawRows } from "../lib/drawRows";
import { duration } from "../lib/format";
import { textFits, textWidth } from "../lib/textWidth";

/** What a runs-table cell shows, for the canvas (the elements' Cell shows the same). */
export function cellContent(row: TableRow, path: string, now: number): CellContent | null {
  if (path === "sys/state") {
    const state = String(row.value(path) ?? "");
    if (state === "running") {
      const started = numeric(row.value("sys/creation_time") ?? null);
      return { kind: "badge", label: state, elapsed: started ? duration(now - started) : "" };
    }
    return { kind: "badge", label: row.value("sys/failed") === true ? "failed" : state, elapsed: "" };
  }
  if (path === "sys/tags") {
    const tags = tagsOf(row.value(path));
    return tags.length ? { kind: "tags", tags } : null;
  }
  const value = row.value(path);
  if (value === undefined) return null;
  return { kind: "text", text: formatValue(value), numeric: typeof numeric(value) === "number" };
}

/** The fonts the table's cells are drawn in: its own (`font`, a computed CSS font) and the small font
 * of badges and tags (12px, same family); "" until the table is in the page. */
export interface TableFonts {
  font: string;
  small: string;
}

/** The table's fonts, read from its element once it is in the page. */
export function tableFontsOf(element: HTMLElement): TableFonts {
  const style = getComputedStyle(element);
  return { font: style.font, small: `${style.fontWeight} 12px ${style.fontFamily}` };
}

/**
 * The runs table's scrolling cells, drawn on a canvas the size of the table's viewport that stays
 * in view (sticky) while the table scrolls under it: each scroll event draws the cells then in view
 * (lib/drawRows). The pinned columns and the header are elements above it.
 */
export const RowsCanvas = memo(function RowsCanvas({
  scroller,
  rows,
  columns,
  pinnedWidth,
  contentWidth,
  contentHeight,
  headHeight,
  rowHeight,
  selected,
  hovered,
  fonts,
}: {
  scroller: React.RefObject<HTMLDivElement | null>;
  rows: TableRow[];
  columns: DrawColumn[];
  pinnedWidth: number;
  /** The table's full size, header included: the canvas is never larger, so it adds no scrolling. */
  contentWidth: number;
  contentHeight: number;
  headHeight: number;
  rowHeight: number;
  selected: Set<string>;
  hovered: string | null;
  fonts: TableFonts;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [viewport, setViewport] = useState({ width: 0, height: 0 });

  // An effect, not a layout effect: the scroller's ref is set after its children's layout effects.
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setViewport({ width: element.clientWidth, height: element.clientHeight }));
    observer.observe(element);
    setViewport({ width: element.clientWidth, height: element.clientHeight });
    return () => observer.disconnect();
  }, [scroller]);

  // The canvas sits under the header (sticky at `headHeight`): rows are drawn from its top edge.
  const width = Math.max(0, Math.min(viewport.width, contentWidth));
  const height = Math.max(0, Math.min(viewport.height, contentHeight) - headHeight);
  // Everything a drawing reads, in a ref: the scroll listener draws with the latest of it.
  const latest = useRef({ rows, columns, pinnedWidth, rowHeight, selected, hovered, width, height, fonts });
  latest.current = { rows, columns, pinnedWidth, rowHeight, selected, hovered, width, height, fonts };
  /** Whether the last drawing showed a running run's badge: its time ticks, so it is drawn again. */
  const showsRunning = useRef(false);

  const draw = useCallback(() => {
    const element = scroller.current;
    // Opaque: the compositor need not blend it with what is under it (a fifth of its work a frame).
    const ctx = canvas.current?.getContext("2d", { alpha: false });
    const state = latest.current;
    if (!ctx) return;
    const ratio = window.devicePixelRatio || 1;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (!element || state.fonts.font === "") {
      // Not yet known where the table is scrolled or in what font: the table's white, not the
      // black an opaque canvas starts as.
      ctx.fillStyle = COLORS.table;
      ctx.fillRect(0, 0, state.width, state.height);
      return;
    }
    const { rows, selected, hovered, fonts } = state;
    const now = Date.now() / 1000;
    let running = false;
    drawRows(ctx, {
      width: state.width,
      height: state.height,
      top: element.scrollTop,
      left: element.scrollLeft,
      headHeight: 0,
      rowHeight: state.rowHeight,
      pinnedWidth: state.pinnedWidth,
      rowCount: rows.length,
      columns: state.columns,
      cell: (row, column) => {
        const content = cellContent(rows[row], column, now);
        if (content?.kind === "badge" && content.label === "running") running = true;
        return content;
      },
      background: (row) => {
        const id = rows[row].id;
        return id === hovered ? COLORS.hovered : selected.has(id) ? COLORS.selected : null;
      },
      font: fonts.font,
      smallFont: fonts.small,
      fits: (text, room) => textFits(text, fonts.font, room),
      measure: (text) => textWidth(text, fonts.font),
      measureSmall: (text) => textWidth(text, fonts.small),
    });
    showsRunning.current = running;
  }, [scroller]);

  // Drawn again when anything it shows changes; and in each scroll event, before the frame paints.
  // This listener is added before the table's own (a child's effects run first), so each scroll
  // event draws before the table renders rows: reading the scroll offsets then forces no layout.
  useLayoutEffect(draw, [draw, rows, columns, pinnedWidth, selected, hovered, width, height, fonts]);
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    element.addEventListener("scroll", draw, { passive: true });
    const clock = window.setInterval(() => {
      if (showsRunning.current) draw();
    }, 1000);
    return () => {
      element.removeEventListener("scroll", draw);
      window.clearInterval(clock);
    };
  }, [scroller, draw]);

  const ratio = typeof window === "undefined" ? 1 : window.devicePixelRatio || 1;
  return (
    <canvas
      ref={canvas}
      className="grid-canvas"
      aria-hidden="true"
      width={Math.round(width * ratio)}
      height={Math.round(height * ratio)}
      style={{ width, height, top: headHeight, marginBottom: -height }}
    />
  );
});
