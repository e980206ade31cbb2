import { useMutation, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import {
  type ColumnDef,
  type ColumnSizingState,
  flexRender,
  getCoreRowModel,
  useReactTable,
} from "@tanstack/react-table";
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { flushSync } from "react-dom";
import { useNavigate, useParams, useSearchParams } from "react-router-dom";
import { allows, useProjectRole } from "../api/access";
import { api, errorDetail, projectParams, unwrap } from "../api/client";
import { fetchRows, NEXT_PAGE, type RunsQuery, type SavedView, useProjectPaths, useRuns, useViews } from "../api/hooks";
import { queryParams, runsQueryOf, SELECT_ALL } from "../api/runsPage";
import type { TableRow } from "../api/rowPage";
import { formatValue, numeric, tagsOf } from "../api/wire";
import { ColumnPicker } from "../components/ColumnPicker";
import { QueryBar } from "../components/QueryBar";
import { StateBadge } from "../components/StateBadge";
import { RowsCanvas, type TableFonts, tableFontsOf } from "../components/RowsCanvas";
import type { DrawColumn } from "../lib/drawRows";
import { Tags } from "../components/Tags";
import { useClock } from "../lib/clock";
import { slottedRows, windowSize } from "../lib/rowSlots";
import { textFits } from "../lib/textWidth";
import { getList, setParam } from "../lib/url";

const ROW_HEIGHT = 32;
// Rows and columns rendered as elements beyond the viewport (pinned rows, the rows' text). The table
// renders in the scroll event, so these only cover what the browser paints around the viewport.
const ROW_OVERSCAN = 6;
const COLUMN_OVERSCAN = 1;
/** A scroll this close to the last row read (in rows: a page) has the next page read at once. */
const LOAD_AHEAD = NEXT_PAGE;
/** How long the table is still, after its first rows are painted, before the change feed and the
 * field paths are read. */
const EXTRAS_WAIT_MS = 1000;
// A cell's horizontal padding and right border (.grid-cell), and a pixel of slack for rounding.
const CELL_CHROME = 8 + 8 + 1 + 1;
type Page = { rows: TableRow[]; next: string | null };

/** True from the frame after `ready` first turned true: work that can wait starts after a paint. */
function useAfterFirstPaint(ready: boolean): boolean {
  const [painted, setPainted] = useState(false);
  useEffect(() => {
    if (!ready || painted) return;
    // requestAnimationFrame runs before the next paint; the timeout inside it runs after that paint.
    let timer = 0;
    const frame = requestAnimationFrame(() => {
      timer = window.setTimeout(() => setPainted(true), 0);
    });
    return () => {
      cancelAnimationFrame(frame);
      window.clearTimeout(timer);
    };
  }, [ready, painted]);
  return painted;
}

/** True once `now` has held for `ms` without a break (false again as soon as `now` is). */
function useHeldFor(now: boolean, ms: number): boolean {
  const [held, setHeld] = useState(false);
  useEffect(() => {
    if (!now) {
      setHeld(false);
      return;
    }
    const timer = window.setTimeout(() => setHeld(true), ms);
    return () => window.clearTimeout(timer);
  }, [now, ms]);
  return now && held;
}

/** True from the first render in which `now` is true. */
function useOnceTrue(now: boolean): boolean {
  const [was, setWas] = useState(false);
  useEffect(() => {
    if (now && !was) setWas(true);
  }, [now, was]);
  return was || now;
}

function runIdOf(row: TableRow): string {
  return row.id;
}

/** A running run's badge with its elapsed time: only these cells read the ticking clock. */
function RunningBadge({ started }: { started: number | null }) {
  const now = useClock();
  return <StateBadge state="running" started={started} now={now} />;
}

interface CellLayout {
  id: string;
  width: number;
  /** `{ width }`, one object per column: cells share it, so a render allocates none. */
  style: { width: number };
  /** Offset of a column pinned to the left; undefined for the others. */
  left: number | undefined;
}

/**
 * One cell of a pinned row or of the rows' text: a single element around plain text where it can be
 * (each element costs style, layout and paint).
 *
 * A value cell clips its text (with an ellipsis) only when the text is wider than the cell: a clip
 * is a paint property of its own, and clipping every cell cost a scrolled frame a sixth of its main
 * thread and half its raster work. `font` is the table's computed font, to measure with; empty
 * until known (all clip).
 */
function Cell({
  row,
  col,
  project,
  selected,
  onToggle,
  font,
}: {
  row: TableRow;
  col: CellLayout;
  project: string;
  selected: boolean;
  onToggle: (id: string) => void;
  font: string;
}) {
  const path = col.id;
  const style = col.style;
  let content: React.ReactNode = null;
  if (path === "select") {
    const id = runIdOf(row);
    content = <input type="checkbox" aria-label={`select ${id}`} checked={selected} onChange={() => onToggle(id)} />;
  } else if (path === "sys/id") {
    // A plain link: the table opens it in the app (useAppLinks). A router <Link> per row cost a
    // scrolled frame a tenth of its allocations (its hooks resolve the path on every render).
    const [ws, name] = project.split("/");
    content = (
      <a className="app-link" href={`/p/${ws}/${name}/runs/${runIdOf(row)}`}>
        {runIdOf(row)}
      </a>
    );
  } else if (path === "sys/state") {
    const state = String(row.value(path) ?? "");
    const started = numeric(row.value("sys/creation_time") ?? null);
    content =
      state === "running" ? <RunningBadge started={started} /> : <StateBadge state={state} failed={row.value("sys/failed") === true} />;
  } else if (path === "sys/tags") {
    content = <Tags tags={tagsOf(row.value(path))} />;
  } else {
    const value = row.value(path);
    if (value !== undefined) {
      const text = formatValue(value);
      const fits = font !== "" && textFits(text, font, col.width - CELL_CHROME);
      const className = `grid-cell${typeof numeric(value) === "number" ? " num" : ""}${fits ? " fits" : ""}`;
      return (
        <div className={className} style={style} title={text}>
          {text}
        </div>
      );
    }
  }
  return (
    <div className={path === "select" ? "grid-cell check" : content === null ? "grid-cell fits" : "grid-cell"} style={style}>
      {content}
    </div>
  );
}

interface RowPartProps {
  row: TableRow;
  /** Where the row is drawn, in pixels from the top of the table's rows. */
  top: number;
  left: number;
  width: number;
  /** The pinned columns' part of the row (`data-run-pinned`), or the others' (`data-run`). */
  pinnedPart: boolean;
  columns: CellLayout[];
  selected: boolean;
  project: string;
  onToggle: (id: string) => void;
  font: string;
}

/** memo's test for RowPart, without the two key lists React's shallow comparison builds a row. */
function sameRowPart(a: RowPartProps, b: RowPartProps): boolean {
  return (
    a.row === b.row &&
    a.top === b.top &&
    a.left === b.left &&
    a.width === b.width &&
    a.pinnedPart === b.pinnedPart &&
    a.columns === b.columns &&
    a.selected === b.selected &&
    a.project === b.project &&
    a.onToggle === b.onToggle &&
    a.font === b.font
  );
}

/**
 * One part of a row (its pinned columns, or the rendered others) and its cells. Memoised: a
 * scrolled frame renders only the rows whose slot took another run, not the forty others.
 */
const RowPart = memo(function RowPart({ row, top, left, width, pinnedPart, columns, selected, project, onToggle, font }: RowPartProps) {
  const id = runIdOf(row);
  const marks = pinnedPart ? { "data-run-pinned": id } : { "data-run": id };
  // Focus (a checkbox, a link) belongs to the run, not to the slot: when the slot takes another
  // run, a focused control in it lets go, or a key press would act on a run never chosen.
  const element = useRef<HTMLDivElement>(null);
  const shownRun = useRef(id);
  useLayoutEffect(() => {
    if (shownRun.current === id) return;
    shownRun.current = id;
    const focused = document.activeElement;
    if (focused instanceof HTMLElement && element.current?.contains(focused)) focused.blur();
  }, [id]);
  return (
    <div ref={element} className={`grid-row ${selected ? "selected" : ""}`} style={{ transform: `translateY(${top}px)`, left, width }} {...marks}>
      {columns.map((col) => (
        <Cell key={col.id} row={row} col={col} project={project} selected={selected} onToggle={onToggle} font={font} />
      ))}
    </div>
  );
}, sameRowPart);

/** What of the table is in view: its first row, and its first and last scrolling columns. */
interface ShownView {
  firstRow: number;
  first: number;
  last: number;
  height: number;
}

function shownViewOf(element: HTMLElement, drawn: DrawColumn[], pinnedWidth: number): ShownView {
  const left = element.scrollLeft + pinnedWidth;
  const right = element.scrollLeft + element.clientWidth;
  let first = drawn.findIndex((c) => c.x + c.width > left);
  if (first < 0) first = drawn.length;
  let last = first;
  while (last + 1 < drawn.length && drawn[last + 1].x < right) last++;
  return {
    firstRow: Math.floor(element.scrollTop / ROW_HEIGHT),
    first: Math.max(0, first - COLUMN_OVERSCAN),
    last: Math.min(drawn.length - 1, last + COLUMN_OVERSCAN),
    height: element.clientHeight,
  };
}

/**
 * What of the table is in view, read in each scroll event; the table renders again only when that
 * changes (a new first row, other columns), at once (flushSync), so that its pinned rows move in
 * the frame the canvas draws. Rows are all ROW_HEIGHT high: where they are is arithmetic, with no
 * list of 10,000 positions to build as rows arrive (as a general virtualiser does).
 */
function useShownView(scroller: React.RefObject<HTMLDivElement | null>, drawn: DrawColumn[], pinnedWidth: number): ShownView {
  const [view, setView] = useState<ShownView>({ firstRow: 0, first: 0, last: drawn.length - 1, height: window.innerHeight });
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    let shown: ShownView | null = null;
    const update = (now: boolean) => {
      const next = shownViewOf(element, drawn, pinnedWidth);
      if (shown && next.firstRow === shown.firstRow && next.first === shown.first && next.last === shown.last && next.height === shown.height) return;
      shown = next;
      if (now) flushSync(() => setView(next));
      else setView(next);
    };
    update(false);
    const onScroll = () => update(true);
    const resized = new ResizeObserver(() => update(false));
    element.addEventListener("scroll", onScroll, { passive: true });
    resized.observe(element);
    return () => {
      element.removeEventListener("scroll", onScroll);
      resized.disconnect();
    };
  }, [scroller, drawn, pinnedWidth]);
  return view;
}

/** How long a table stays still before it counts as not scrolled (useScrolling): the rows' text (the
 * elements under the canvas) and the background pages wait for that. */
const SETTLE_MS = 150;

/**
 * The rows in view. Their scrolling columns are drawn on a canvas (RowsCanvas), in each scroll
 * event; their pinned columns (a checkbox, the run's link, the columns pinned) are elements, in one
 * sticky pane above it, in a window of row slots that scrolling moves (slottedRows).
 *
 * Under the canvas, the same rows' text is also in the page as elements, transparent: what a screen
 * reader reads, what a drag selects and copies, what holds a cell's full text as its tooltip and
 * the run a pointer is over. They follow the table once it has been still for SETTLE_MS (marked
 * `aria-busy` until then): rendered in each scrolled frame, elements were what dropped frames.
 *
 * The pinned pane is one sticky box, not a sticky box per row or cell: the browser composites each
 * sticky box as a layer of its own (and, behind one, every row painted after it).
 */
function GridBody({
  scroller,
  rows,
  selected,
  cells,
  project,
  onToggle,
  scrolling,
}: {
  scroller: React.RefObject<HTMLDivElement | null>;
  rows: TableRow[];
  selected: Set<string>;
  cells: CellLayout[];
  project: string;
  onToggle: (id: string) => void;
  /** Whether the table is being scrolled (useScrolling): the rows' text waits until it is not. */
  scrolling: boolean;
}) {
  // The fonts cells are drawn in, to measure texts with: known once the table is in the page (an
  // effect, not a layout effect: the scroller's ref is set after its children's layout effects).
  const [fonts, setFonts] = useState<TableFonts>({ font: "", small: "" });
  useEffect(() => {
    if (scroller.current) setFonts(tableFontsOf(scroller.current));
  }, [scroller]);
  const { font } = fonts;
  const hovered = useRowHover(scroller);
  const textLayer = useRef<HTMLDivElement>(null);
  useSelectionShown(textLayer);
  const { pinned, center, pinnedWidth, drawn } = useMemo(() => {
    const pinned = cells.filter((c) => c.left !== undefined);
    const center = cells.filter((c) => c.left === undefined);
    const pinnedWidth = pinned.reduce((a, c) => a + c.width, 0);
    let x = pinnedWidth;
    const drawn = center.map((c) => {
      const column = { id: c.id, x, width: c.width };
      x += c.width;
      return column;
    });
    return { pinned, center, pinnedWidth, drawn };
  }, [cells]);
  const shownView = useShownView(scroller, drawn, pinnedWidth);
  const { first, last } = shownView;
  // A window of as many rows as the viewport can show, the row leaving it and the one entering it
  // rendered in the same slot (see slottedRows): scrolling updates cells in place.
  const firstRow = Math.max(0, shownView.firstRow - ROW_OVERSCAN);
  const size = windowSize(shownView.height, ROW_HEIGHT, ROW_OVERSCAN);
  const slotted = slottedRows(firstRow, size, rows.length);

  // The window the rows' text shows: the live one while the table is still; during a scroll, the one
  // it was still at. (A timer of its own restarted by each new window settled in the first frames of
  // a slow scroll, whose first rows stay in the overscan for a while: 800 cells re-rendered mid-scroll.)
  const liveKey = `${firstRow}:${first}:${last}`;
  const live = { key: liveKey, firstRow, first, last };
  const [stillAt, setStillAt] = useState(live);
  useEffect(() => {
    if (!scrolling && stillAt.key !== liveKey) setStillAt({ key: liveKey, firstRow, first, last });
  }, [scrolling, liveKey, stillAt.key, firstRow, first, last]);
  const settled = scrolling ? stillAt : live;
  const textRows = useMemo(() => slottedRows(settled.firstRow, size, rows.length), [settled.firstRow, size, rows.length]);
  const shown = useMemo(() => center.slice(settled.first, settled.last + 1), [center, settled.first, settled.last]);
  const skipped = drawn[settled.first]?.x ?? pinnedWidth;
  const shownWidth = useMemo(() => shown.reduce((a, c) => a + c.width, 0), [shown]);
  const totalWidth = pinnedWidth + center.reduce((a, c) => a + c.width, 0);

  // Pinned rows are placed by a transform, not `top`: a slot's row moved by `top` had the browser
  // raster about twice the tiles a frame.
  return (
    <>
      <RowsCanvas
        scroller={scroller}
        rows={rows}
        columns={drawn}
        pinnedWidth={pinnedWidth}
        contentWidth={totalWidth}
        contentHeight={(rows.length + 1) * ROW_HEIGHT}
        headHeight={ROW_HEIGHT}
        rowHeight={ROW_HEIGHT}
        selected={selected}
        hovered={hovered}
        fonts={fonts}
      />
      <div className="grid-pinned" style={{ width: pinnedWidth, height: rows.length * ROW_HEIGHT }}>
        {slotted.map(({ index, slot }) => (
          <RowPart
            key={slot}
            row={rows[index]}
            top={index * ROW_HEIGHT}
            left={0}
            width={pinnedWidth}
            pinnedPart
            columns={pinned}
            selected={selected.has(runIdOf(rows[index]))}
            project={project}
            onToggle={onToggle}
            font={font}
          />
        ))}
      </div>
      {/* The rows' text over the canvas, for the window it settled on: transparent, but a selection in it shows (useSelectionShown). */}
      <div ref={textLayer} className="grid-text" aria-busy={settled.key !== liveKey} data-testid="rows-text">
        {textRows.map(({ index, slot }) => (
          <RowPart
            key={slot}
            row={rows[index]}
            top={(index + 1) * ROW_HEIGHT}
            left={skipped}
            width={shownWidth}
            pinnedPart={false}
            columns={shown}
            selected={selected.has(runIdOf(rows[index]))}
            project={project}
            onToggle={onToggle}
            font={font}
          />
        ))}
      </div>
    </>
  );
}

/**
 * Marks the rows' text `selecting` while a selection reaches into it: only then is it painted (a
 * selection shows, its text staying transparent), since painting it after each scroll cost the first
 * frames of the next (styles.css, .grid-text). Set on the element, without a render.
 */
function useSelectionShown(layer: React.RefObject<HTMLDivElement | null>): void {
  useEffect(() => {
    const onChange = () => {
      const element = layer.current;
      const selection = document.getSelection();
      if (!element) return;
      // Any part of it (a select-all too, whose ends are outside it).
      element.classList.toggle("selecting", selection !== null && !selection.isCollapsed && selection.containsNode(element, true));
    };
    document.addEventListener("selectionchange", onChange);
    return () => document.removeEventListener("selectionchange", onChange);
  }, [layer]);
}

/**
 * The run under the pointer, for the canvas to light its row; and its pinned part marked "hovered"
 * (the class set on the element directly: a hover renders no pinned row). The pointer is over the
 * rows' transparent text or a pinned part. A pinned part shows another run once it scrolls out
 * (slottedRows): the browser sends a mouseover when the content under the pointer changes, and the
 * mark moves to the run now there.
 */
function useRowHover(scroller: React.RefObject<HTMLDivElement | null>): string | null {
  const [hovered, setHovered] = useState<string | null>(null);
  useEffect(() => {
    const grid = scroller.current;
    if (!grid) return;
    let lit: Element[] = [];
    const light = (id: string | null) => {
      for (const el of lit) el.classList.remove("hovered");
      const quoted = id === null ? null : CSS.escape(id);
      lit = quoted === null ? [] : [...grid.querySelectorAll(`[data-run="${quoted}"], [data-run-pinned="${quoted}"]`)];
      for (const el of lit) el.classList.add("hovered");
      setHovered(id);
    };
    const over = (event: MouseEvent) => {
      const row = (event.target as Element | null)?.closest("[data-run], [data-run-pinned]");
      // Every time, not only on a new row: a re-rendered row's class list lost the mark.
      light(row ? (row.getAttribute("data-run") ?? row.getAttribute("data-run-pinned")) : null);
    };
    const leave = () => light(null);
    grid.addEventListener("mouseover", over);
    grid.addEventListener("mouseleave", leave);
    return () => {
      grid.removeEventListener("mouseover", over);
      grid.removeEventListener("mouseleave", leave);
    };
  }, [scroller]);
  return hovered;
}

/**
 * Whether the table is being scrolled: true from a scroll event until it has been still for
 * SETTLE_MS. Renders twice a scroll (when it starts and when it stops), not in each scroll event.
 */
function useScrolling(scroller: React.RefObject<HTMLDivElement | null>): boolean {
  const [scrolling, setScrolling] = useState(false);
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    let timer: number | undefined;
    const onScroll = () => {
      if (timer === undefined) setScrolling(true);
      else window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        timer = undefined;
        setScrolling(false);
      }, SETTLE_MS);
    };
    element.addEventListener("scroll", onScroll, { passive: true });
    return () => {
      element.removeEventListener("scroll", onScroll);
      window.clearTimeout(timer);
    };
  }, [scroller]);
  return scrolling;
}

/**
 * Opens the table's plain links (`a.app-link`) in the app, as a router link would: a plain click
 * navigates without reloading the page; a click with a modifier key, or another button, is left
 * to the browser (a new tab or window).
 */
function useAppLinks(): (event: React.MouseEvent) => void {
  const navigate = useNavigate();
  return useCallback(
    (event: React.MouseEvent) => {
      const link = (event.target as Element).closest("a.app-link");
      if (!link || event.defaultPrevented || event.button !== 0) return;
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      navigate(link.getAttribute("href") ?? "/");
    },
    [navigate],
  );
}

/**
 * Keeps the table live: long-polls the project's change feed and patches only the changed rows.
 * Starts once `enabled` (after the first rows are painted: its first answer lists every run of the
 * project, and the first page should have the server to itself).
 */
function useLiveTable(q: RunsQuery, enabled: boolean) {
  const client = useQueryClient();
  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    const controller = new AbortController();
    const loop = async () => {
      let cursor: number | null = null;
      while (!stopped) {
        try {
          const { data, response } = await api.GET("/api/v1/projects/{workspace}/{project}/changes", {
            params: { path: projectParams(q.project), query: { since: cursor ?? 0, wait: cursor === null ? 0 : 20 } },
            signal: controller.signal,
          });
          if (!response.ok || !data) throw new Error(String(response.status));
          const change = data as { runs: string[]; cursor: number };
          if (cursor !== null && change.runs.length) await patch(change.runs);
          cursor = change.cursor;
        } catch {
          if (stopped) return;
          await new Promise((r) => setTimeout(r, 3000));
        }
      }
    };
    const patch = async (runIds: string[]) => {
      const key = ["runs", q];
      const data = client.getQueryData<InfiniteData<Page>>(key);
      if (!data) return;
      const known = new Set(data.pages.flatMap((p) => p.rows.map(runIdOf)));
      if (runIds.some((id) => !known.has(id))) {
        // A new run may sort anywhere: ask for the first page again.
        await client.invalidateQueries({ queryKey: key });
        return;
      }
      const fresh = new Map((await fetchRows(q, runIds)).map((r) => [runIdOf(r), r]));
      client.setQueryData<InfiniteData<Page>>(key, (old) =>
        old
          ? {
              ...old,
              pages: old.pages.map((p) => ({
                ...p,
                // A run that no longer matches the query (trashed, retagged) leaves the table.
                rows: p.rows.flatMap((r) => {
                  const id = runIdOf(r);
                  if (!runIds.includes(id)) return [r];
                  const f = fresh.get(id);
                  return f ? [f] : [];
                }),
              })),
            }
          : old,
      );
    };
    void loop();
    return () => {
      stopped = true;
      controller.abort();
    };
  }, [client, q, enabled]);
}

function ViewsMenu({
  project,
  current,
  onApply,
}: {
  project: string;
  current: Omit<SavedView, "id" | "name" | "owner">;
  onApply: (v: SavedView) => void;
}) {
  const views = useViews(project);
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    if (!name.trim()) return;
    try {
      await unwrap(
        api.POST("/api/v1/projects/{workspace}/{project}/views", {
          params: { path: projectParams(project) },
          body: { name: name.trim(), ...current },
        }),
      );
      setName("");
      setError(null);
      await client.invalidateQueries({ queryKey: ["views", project] });
    } catch (e) {
      setError(errorDetail(e).detail);
    }
  };
  const remove = async (id: number) => {
    await unwrap(
      api.DELETE("/api/v1/projects/{workspace}/{project}/views/{view_id}", {
        params: { path: { ...projectParams(project), view_id: id } },
      }),
    );
    await client.invalidateQueries({ queryKey: ["views", project] });
  };
  return (
    <div className="popover views" data-testid="views">
      <ul>
        {(views.data ?? []).map((v) => (
          <li key={v.id}>
            <button className="link" onClick={() => onApply(v)}>
              {v.name}
            </button>
            <span className="muted"> {v.owner}</span>
            <button className="link danger" aria-label={`delete view ${v.name}`} onClick={() => void remove(v.id)}>
              delete
            </button>
          </li>
        ))}
        {views.data?.length === 0 ? <li className="muted">no saved views</li> : null}
      </ul>
      <div className="row">
        <input placeholder="Name this view" aria-label="view name" value={name} onChange={(e) => setName(e.target.value)} />
        <button onClick={() => void save()}>Save view</button>
      </div>
      {error ? <p className="error">{error}</p> : null}
    </div>
  );
}

export function RunsPage() {
  const { workspace, project: name } = useParams();
  const project = `${workspace}/${name}`;
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  // The same reading of the link as the first page's read-ahead (api/runsPage), so that it is used.
  const { query, columns, sortBy, ascending, trash } = runsQueryOf(project, params);
  const pinned = getList(params, "pin");
  // `sel=*`: every run the query matches (the header's checkbox); else the runs named.
  const selectsAll = params.get("sel") === SELECT_ALL;
  const named = useMemo(() => new Set(getList(params, "sel")), [params]);
  const [picker, setPicker] = useState(false);
  const [viewsOpen, setViewsOpen] = useState(false);
  const [sizing, setSizing] = useState<ColumnSizingState>(() => {
    try {
      return JSON.parse(localStorage.getItem(`despina.sizes.${project}`) ?? "{}") as ColumnSizingState;
    } catch {
      return {};
    }
  });
  useEffect(() => localStorage.setItem(`despina.sizes.${project}`, JSON.stringify(sizing)), [project, sizing]);
  const [tagDraft, setTagDraft] = useState("");
  const client = useQueryClient();

  const update = (key: string, value: string | string[] | null) =>
    setParams((p) => setParam(p, key, value), { replace: key === "sel" });

  const q: RunsQuery = useMemo(
    () => ({ project, query, columns, sortBy, ascending, trash }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [project, query, columns.join(","), sortBy, ascending, trash],
  );
  const runs = useRuns(q);
  const painted = useAfterFirstPaint(runs.isSuccess);
  const scroller = useRef<HTMLDivElement>(null);
  const scrolling = useScrolling(scroller);
  // The change feed (its first answer lists every run of the project) and the field paths (column
  // picker, completion) are read once the first rows are on screen, the first request the server
  // answers being the one that shows rows, and the table has then been still for EXTRAS_WAIT_MS:
  // the paths take the server about a second of a core for 10,000 runs, and a scroll begun
  // meanwhile dropped frames waiting for a core. The column picker and the query bar (its
  // completions) ask for the paths at once.
  const extras = useOnceTrue(useHeldFor(painted && !scrolling, EXTRAS_WAIT_MS));
  const [typing, setTyping] = useState(false);
  useLiveTable(q, extras);
  const paths = useProjectPaths(project, extras || picker || typing);
  const rows = useMemo(() => runs.data?.pages.flatMap((p) => p.rows) ?? [], [runs.data]);
  const selected = useMemo(() => (selectsAll ? new Set(rows.map(runIdOf)) : named), [selectsAll, rows, named]);
  const queryError = runs.isError ? errorDetail(runs.error).detail : null;


  const shownColumns = ["sys/id", "sys/name", "sys/state", "sys/tags", ...columns.filter((c) => !["sys/id", "sys/name", "sys/state", "sys/tags"].includes(c))];
  const columnDefs = useMemo<ColumnDef<TableRow>[]>(
    () => [
      { id: "select", size: 36, enableResizing: false, header: () => null, cell: () => null },
      ...shownColumns.map(
        (path): ColumnDef<TableRow> => ({
          id: path,
          header: path,
          size: path === "sys/id" ? 100 : path === "sys/name" ? 180 : 140,
          minSize: 60,
          accessorFn: (row) => row.value(path) ?? null,
        }),
      ),
    ],
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [shownColumns.join(",")],
  );

  const table = useReactTable({
    data: rows,
    columns: columnDefs,
    getCoreRowModel: getCoreRowModel(),
    getRowId: runIdOf,
    columnResizeMode: "onChange",
    manualSorting: true,
    state: {
      columnSizing: sizing,
      columnPinning: { left: ["select", "sys/id", ...pinned.filter((p) => p !== "sys/id")] },
      columnOrder: ["select", ...shownColumns],
    },
    onColumnSizingChange: setSizing,
  });

  // The rest of the pages load in the background, after the first rows are painted (nothing delays
  // the first screen), and between scrolls: reading and decoding a page takes the server and a core
  // away from the frames of a scroll, which dropped frames on 2 cores. A scroll that comes within
  // LOAD_AHEAD rows of the last row read does not wait: the next page is read at once.
  const nearEnd = scroller.current !== null && (scroller.current.scrollTop + scroller.current.clientHeight) / ROW_HEIGHT > rows.length - LOAD_AHEAD;
  const mayLoad = painted && runs.hasNextPage && !runs.isFetchingNextPage && !runs.isError && (!scrolling || nearEnd);
  useEffect(() => {
    if (mayLoad) void runs.fetchNextPage();
  }, [mayLoad, runs]);
  const openAppLink = useAppLinks();

  const leafColumns = [...table.getLeftVisibleLeafColumns(), ...table.getCenterVisibleLeafColumns()];
  const totalWidth = leafColumns.reduce((a, c) => a + c.getSize(), 0);
  // One layout object per set of columns and widths, so that a row part (RowPart, memoised) renders
  // again only when its run, its columns or its selection change.
  const layoutKey = leafColumns.map((c) => `${c.id}:${c.getSize()}:${c.getIsPinned() === "left" ? c.getStart("left") : ""}`).join("|");
  const cellLayout = useMemo<CellLayout[]>(
    () =>
      leafColumns.map((c) => ({
        id: c.id,
        width: c.getSize(),
        style: { width: c.getSize() },
        left: c.getIsPinned() === "left" ? c.getStart("left") : undefined,
      })),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [layoutKey],
  );

  const toggleSort = (path: string) => {
    setParams((p) => {
      let next = setParam(p, "sort", path);
      next = setParam(next, "asc", path === sortBy ? (ascending ? null : "1") : null);
      return next;
    });
  };
  const moveColumn = (from: string, to: string) => {
    const list = shownColumns.filter((c) => !["sys/id"].includes(c));
    const a = list.indexOf(from);
    const b = list.indexOf(to);
    if (a < 0 || b < 0) return;
    list.splice(b, 0, list.splice(a, 1)[0]);
    update("cols", list.filter((c) => !["sys/name", "sys/state", "sys/tags"].includes(c)));
  };
  const toggleColumn = (path: string) =>
    update("cols", columns.includes(path) ? columns.filter((c) => c !== path) : [...columns, path]);
  const togglePin = (path: string) => update("pin", pinned.includes(path) ? pinned.filter((p) => p !== path) : [...pinned, path]);
  const toggleSelect = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    update("sel", [...next]);
  };
  const toggleRef = useRef(toggleSelect);
  toggleRef.current = toggleSelect;
  const onToggleRow = useCallback((id: string) => toggleRef.current(id), []);

  // What the user may do here: viewers see no edits, and only owners delete for good.
  const role = useProjectRole(project);
  const canEdit = allows(role, "contributor");
  const canDelete = allows(role, "owner");
  // Deleting for good asks twice: the first press only turns the button into the confirmation.
  const [confirmDelete, setConfirmDelete] = useState(false);
  useEffect(() => setConfirmDelete(false), [selected, trash]);
  const edit = useMutation({
    mutationFn: async (action: { kind: "tags"; add: string[]; remove: string[] } | { kind: "trash" | "restore" | "delete" }) => {
      const run_ids = [...selected];
      const path = { params: { path: projectParams(project) } };
      if (action.kind === "tags")
        return unwrap(api.POST("/api/v1/projects/{workspace}/{project}/runs/tags", { ...path, body: { run_ids, add: action.add, remove: action.remove } }));
      if (action.kind === "trash") return unwrap(api.POST("/api/v1/projects/{workspace}/{project}/runs/trash", { ...path, body: { run_ids } }));
      if (action.kind === "delete") return unwrap(api.POST("/api/v1/projects/{workspace}/{project}/runs/delete", { ...path, body: { run_ids } }));
      return unwrap(api.POST("/api/v1/projects/{workspace}/{project}/runs/restore", { ...path, body: { run_ids } }));
    },
    onSuccess: async (_data, action) => {
      if (action.kind !== "tags") update("sel", null);
      await client.invalidateQueries({ queryKey: ["runs"] });
    },
  });

  return (
    <section className="page runs-page">
      <div className="toolbar">
        <QueryBar value={query} paths={(paths.data ?? []).map((p) => p.path)} error={queryError} onSubmit={(v) => update("q", v)} onFocus={() => setTyping(true)} />
        <div className="anchor">
          <button onClick={() => setPicker((v) => !v)} data-testid="add-column">
            Columns
          </button>
          {picker ? (
            <ColumnPicker paths={paths.data ?? []} shown={shownColumns} onToggle={toggleColumn} onClose={() => setPicker(false)} />
          ) : null}
        </div>
        <div className="anchor">
          <button onClick={() => setViewsOpen((v) => !v)} data-testid="views-button">
            Views
          </button>
          {viewsOpen ? (
            <ViewsMenu
              project={project}
              current={{ query, columns, sort_by: sortBy, ascending }}
              onApply={(v) => {
                setParams((p) => {
                  let n = setParam(p, "q", v.query);
                  n = setParam(n, "cols", v.columns.length ? v.columns : [""]);
                  n = setParam(n, "sort", v.sort_by);
                  n = setParam(n, "asc", v.ascending ? "1" : null);
                  return n;
                });
                setViewsOpen(false);
              }}
            />
          ) : null}
        </div>
        <label className="check">
          <input type="checkbox" checked={trash} onChange={() => update("trash", trash ? null : "1")} /> Trash
        </label>
      </div>
      <div className="toolbar selection-bar">
        <span data-testid="row-count">
          {rows.length}
          {runs.hasNextPage ? "+" : ""} runs
        </span>
        <span>· {selected.size} selected</span>
        <button
          disabled={selected.size === 0}
          data-testid="compare-button"
          onClick={() => {
            // Every run of the query: the compare link holds the query, not thousands of ids.
            const which = selectsAll ? setParam(queryParams({ query, sortBy, ascending, trash }), "all", "1") : `runs=${[...selected].join(",")}`;
            navigate(`/p/${workspace}/${name}/compare?${which.toString()}`);
          }}
        >
          Compare
        </button>
        <button className="link" disabled={selected.size === 0} onClick={() => update("sel", null)}>
          clear
        </button>
        {canEdit ? (
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              if (tagDraft.trim() && selected.size) edit.mutate({ kind: "tags", add: [tagDraft.trim()], remove: [] });
            }}
          >
            <input placeholder="tag" aria-label="bulk tag" value={tagDraft} onChange={(e) => setTagDraft(e.target.value)} size={10} />
            <button type="submit" disabled={!selected.size || !tagDraft.trim()}>
              Add tag
            </button>
            <button
              type="button"
              disabled={!selected.size || !tagDraft.trim()}
              onClick={() => edit.mutate({ kind: "tags", add: [], remove: [tagDraft.trim()] })}
            >
              Remove tag
            </button>
          </form>
        ) : null}
        {!canEdit ? null : trash ? (
          <>
            <button disabled={!selected.size} onClick={() => edit.mutate({ kind: "restore" })} data-testid="restore">
              Restore
            </button>
            {!canDelete ? null : confirmDelete ? (
              <>
                <button className="danger" onClick={() => edit.mutate({ kind: "delete" })} data-testid="confirm-delete">
                  Delete {selected.size === 1 ? "1 run" : `${selected.size.toLocaleString("en")} runs`} forever
                </button>
                <button onClick={() => setConfirmDelete(false)}>Keep them</button>
              </>
            ) : (
              <button disabled={!selected.size} onClick={() => setConfirmDelete(true)} data-testid="delete-forever" title="Delete the selected runs, their fields and points, for good">
                Delete forever…
              </button>
            )}
          </>
        ) : (
          <button disabled={!selected.size} onClick={() => edit.mutate({ kind: "trash" })} data-testid="trash">
            Move to trash
          </button>
        )}
        {edit.isError ? <span className="error">{errorDetail(edit.error).detail}</span> : null}
      </div>
      <div className="grid-scroll" ref={scroller} data-testid="runs-table" onClick={openAppLink}>
        <div className="grid" style={{ width: totalWidth, height: rows.length * ROW_HEIGHT + ROW_HEIGHT }}>
          <div className="grid-row grid-head" style={{ width: totalWidth }}>
            {leafColumns.map((col) => {
              const path = col.id;
              const isPinned = col.getIsPinned() === "left";
              const header = table.getFlatHeaders().find((h) => h.column.id === path)!;
              return (
                <div
                  key={path}
                  className={`grid-cell head ${isPinned ? "pinned" : ""}`}
                  style={{ width: col.getSize(), left: isPinned ? col.getStart("left") : undefined }}
                  draggable={path !== "select" && path !== "sys/id"}
                  onDragStart={(e) => e.dataTransfer.setData("text/x-column", path)}
                  onDragOver={(e) => e.preventDefault()}
                  onDrop={(e) => moveColumn(e.dataTransfer.getData("text/x-column"), path)}
                  data-column={path}
                >
                  {path === "select" ? (
                    <input
                      type="checkbox"
                      aria-label="select every run the query matches"
                      checked={rows.length > 0 && selected.size === rows.length}
                      onChange={() => update("sel", selected.size === rows.length ? null : SELECT_ALL)}
                    />
                  ) : (
                    <>
                      <button className="sort" onClick={() => toggleSort(path)} title={`sort by ${path}`}>
                        {flexRender(col.columnDef.header, header.getContext())}
                        {sortBy === path ? (ascending ? " ▲" : " ▼") : ""}
                      </button>
                      {path !== "sys/id" ? (
                        <span className="head-tools">
                          <button className="icon" title={isPinned ? "unpin" : "pin"} aria-label={`pin ${path}`} onClick={() => togglePin(path)}>
                            {isPinned ? "◆" : "◇"}
                          </button>
                          {columns.includes(path) ? (
                            <button className="icon" title="remove column" aria-label={`remove ${path}`} onClick={() => toggleColumn(path)}>
                              ×
                            </button>
                          ) : null}
                        </span>
                      ) : null}
                      <span
                        className={`resizer ${col.getIsResizing() ? "active" : ""}`}
                        onMouseDown={(e) => {
                          // The header is draggable (to reorder): without this, dragging its edge
                          // starts moving the column instead of resizing it.
                          e.preventDefault();
                          header.getResizeHandler()(e);
                        }}
                        onTouchStart={header.getResizeHandler()}
                      />
                    </>
                  )}
                </div>
              );
            })}
          </div>
          <GridBody scroller={scroller} rows={rows} selected={selected} cells={cellLayout} project={project} onToggle={onToggleRow} scrolling={scrolling} />
        </div>
        {runs.isPending ? <p className="loading">Loading runs…</p> : null}
        {!runs.isPending && rows.length === 0 && !queryError ? <p className="muted empty">No runs match.</p> : null}
      </div>
    </section>
  );
}
