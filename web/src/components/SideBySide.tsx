// The compare page's side-by-side table: a row per field, a column per run, the baseline run pinned
// beside the field names. Virtualised both ways: a comparison of 10,000 runs x 100 fields is a
// million cells, and rendered whole it took the page about a minute.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef } from "react";
import { formatValue, type Row } from "../api/wire";
import { differingPaths } from "../lib/compare";

/** px: the field names' column, each run's column, a row and the header (as styles.css draws them). */
const PATH_WIDTH = 280;
const RUN_WIDTH = 180;
const ROW_HEIGHT = 28;
const HEAD_HEIGHT = 32;
/** Rows and runs rendered beyond each edge of the view, so a scroll shows no blank before a frame. */
const ROW_OVERSCAN = 8;
const RUN_OVERSCAN = 2;

function idOf(row: Row): string {
  return String(row["sys/id"].value);
}

function cellText(row: Row, path: string): string {
  const field = row[path];
  return field ? formatValue(field.value) : "";
}

export function SideBySide({
  rows,
  paths,
  onlyDiff,
  baseline,
  onBaseline,
  onOnlyDiff,
}: {
  rows: Row[];
  paths: string[];
  onlyDiff: boolean;
  baseline: string;
  onBaseline: (id: string) => void;
  onOnlyDiff: () => void;
}) {
  const base = rows.find((r) => idOf(r) === baseline) ?? rows[0];
  const others = useMemo(() => rows.filter((r) => r !== base), [rows, base]);
  const differing = useMemo(() => (onlyDiff ? differingPaths(rows, paths) : paths), [onlyDiff, rows, paths]);
  const scroller = useRef<HTMLDivElement>(null);
  const pinnedWidth = PATH_WIDTH + RUN_WIDTH;
  const rowVirtualizer = useVirtualizer({
    count: differing.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    scrollMargin: HEAD_HEIGHT,
    overscan: ROW_OVERSCAN,
  });
  const runVirtualizer = useVirtualizer({
    horizontal: true,
    count: others.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => RUN_WIDTH,
    scrollMargin: pinnedWidth,
    overscan: RUN_OVERSCAN,
  });
  const runItems = runVirtualizer.getVirtualItems();
  const shownRuns = runItems.map((item) => others[item.index]);
  // The runs scrolled past on the left, as one empty box: the shown ones then follow in the flow.
  const skipped = runItems.length ? runItems[0].start - pinnedWidth : 0;
  const width = pinnedWidth + others.length * RUN_WIDTH;
  const runHead = (r: Row) => {
    const id = idOf(r);
    const isBase = r === base;
    return (
      <div key={id} role="columnheader" className={`side-cell${isBase ? " baseline pinned-run" : ""}`} data-run={id} title={id}>
        {id}{" "}
        {isBase ? (
          <span className="badge">baseline</span>
        ) : (
          <button className="link" onClick={() => onBaseline(id)} title="pin as baseline">
            pin
          </button>
        )}
      </div>
    );
  };
  return (
    <>
      <div className="toolbar">
        <label className="check">
          <input type="checkbox" checked={onlyDiff} onChange={onOnlyDiff} data-testid="only-diff" /> only differences
        </label>
        <span className="muted">
          {differing.length} of {paths.length} fields · {rows.length} runs
        </span>
      </div>
      <div
        ref={scroller}
        className="side-scroll"
        role="table"
        aria-rowcount={differing.length + 1}
        aria-colcount={rows.length + 1}
        data-testid="side-by-side"
      >
        <div className="side-grid" style={{ width, height: HEAD_HEIGHT + differing.length * ROW_HEIGHT }}>
          <div className="side-row side-head" role="row" style={{ width }}>
            <div role="columnheader" className="side-cell path">
              field
            </div>
            {runHead(base)}
            <div className="side-skip" style={{ width: skipped }} />
            {shownRuns.map(runHead)}
          </div>
          {rowVirtualizer.getVirtualItems().map((item) => {
            const path = differing[item.index];
            const baseText = cellText(base, path);
            return (
              <div
                key={path}
                role="row"
                className="side-row"
                data-path={path}
                style={{ width, transform: `translateY(${item.start}px)` }}
              >
                <div role="rowheader" className="side-cell path" title={path}>
                  {path}
                </div>
                <div role="cell" className="side-cell baseline pinned-run" data-run={idOf(base)} title={baseText}>
                  {baseText}
                </div>
                <div className="side-skip" style={{ width: skipped }} />
                {shownRuns.map((r) => {
                  const text = cellText(r, path);
                  return (
                    <div key={idOf(r)} role="cell" className={`side-cell${text !== baseText ? " differs" : ""}`} data-run={idOf(r)} title={text}>
                      {text}
                    </div>
                  );
                })}
              </div>
            );
          })}
        </div>
      </div>
    </>
  );
}
