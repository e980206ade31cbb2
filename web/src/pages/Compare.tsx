import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { WIDE_CHART_BUCKETS } from "../api/bucketsAhead";
import { fetchRunRecords } from "../api/hooks";
import { fetchMatchingRecords, queryParams, type RunsQuery, runsQueryOf, SELECT_ALL } from "../api/runsPage";
import { fetchManySeriesViews, lineKey, type SeriesView, smooth } from "../api/series";
import { formatValue, numeric, type Row } from "../api/wire";
import { Chart, type ChartSeries, colorFor } from "../components/Chart";
import { DataDiff } from "../components/Artifacts";
import { ParallelCoords } from "../components/ParallelCoords";
import { SideBySide } from "../components/SideBySide";
import { downsampleNote } from "../components/SeriesChart";
import { differingPaths, legendLabel, parameterPaths } from "../lib/compare";
import { getList, getRange, setParam } from "../lib/url";

type XAxis = "step" | "relative" | "wall";
const TABS = ["charts", "table", "parallel", "scatter", "data"] as const;

/**
 * The compared runs with every field: the runs named (in chunks: a query names at most a few hundred
 * ids), or with `matching` every run that query matches, read page by page in its order.
 */
function useCompareRows(project: string, runIds: string[], matching: RunsQuery | null, onProgress: (read: number) => void) {
  return useQuery({
    queryKey: ["compare-rows", project, matching ?? runIds],
    enabled: matching !== null || runIds.length > 0,
    queryFn: async () => {
      onProgress(0);
      if (matching) return fetchMatchingRecords({ ...matching, columns: null }, onProgress);
      const rows: Row[] = [];
      for (let i = 0; i < runIds.length; i += 200) {
        const ids = runIds.slice(i, i + 200).map((id) => JSON.stringify(id)).join(", ");
        const page = await fetchRunRecords(
          { project, query: `sys/id in [${ids}]`, columns: null, sortBy: "sys/creation_time", ascending: true, trash: false },
          200,
        );
        rows.push(...page);
        if (rows.length < runIds.length) onProgress(rows.length);
      }
      const order = new Map(runIds.map((id, i) => [id, i]));
      return rows.sort((a, b) => (order.get(String(a["sys/id"].value)) ?? 0) - (order.get(String(b["sys/id"].value)) ?? 0));
    },
  });
}

function CompareChart({
  runIds,
  labels,
  path,
  xAxis,
  logY,
  smoothing,
  zoom,
  onZoom,
  bulk,
}: {
  runIds: string[];
  labels: string[];
  path: string;
  xAxis: XAxis;
  logY: boolean;
  smoothing: number;
  zoom: [number, number] | null;
  onZoom: (z: [number, number] | null) => void;
  /** Downsampled lines of every chart, read in one request by the page; undefined while loading. */
  bulk: Map<string, SeriesView> | undefined;
}) {
  const data = runIds.map((id) => bulk?.get(lineKey(id, path)));
  const series = useMemo(() => {
    const out: ChartSeries[] = [];
    data.forEach((v, i) => {
      if (!v || v.x.length === 0) return;
      let x: ArrayLike<number> = v.x;
      if (xAxis !== "step") {
        if (!v.t) return; // still the step-axis lines: never draw steps as times
        const t0 = v.t[0];
        x = xAxis === "wall" ? v.t : v.t.map((t) => t - t0);
      }
      out.push({ label: labels[i], color: colorFor(i), x, y: smooth(v.y, smoothing) });
    });
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...data, xAxis, smoothing, labels]);
  const loading = bulk ? 0 : runIds.length;
  return (
    <Chart
      title={`${path}${loading ? ` (loading ${loading})` : ""}`}
      series={series}
      xLabel={xAxis === "step" ? "step" : xAxis === "relative" ? "seconds since start" : "time"}
      xTime={xAxis === "wall"}
      logY={logY}
      note={downsampleNote(data)}
      zoom={xAxis === "step" ? zoom : null}
      onZoom={xAxis === "step" ? onZoom : undefined}
      testId={`compare-chart-${path}`}
    />
  );
}

export function ComparePage() {
  const { workspace, project: name } = useParams();
  const project = `${workspace}/${name}`;
  const [params, setParams] = useSearchParams();
  // `all=1`: every run the runs table's query (q, sort, asc, trash) matches; else the runs named.
  const matching = params.get("all") === "1" ? runsQueryOf(project, params) : null;
  const named = getList(params, "runs");
  const tab = (TABS as readonly string[]).includes(params.get("tab") ?? "") ? (params.get("tab") as (typeof TABS)[number]) : "charts";
  const xAxis = (["step", "relative", "wall"].includes(params.get("x") ?? "") ? params.get("x") : "step") as XAxis;
  const logY = params.get("log") === "1";
  const smoothing = Math.min(0.99, Math.max(0, Number(params.get("smooth") ?? 0) || 0));
  const zoom = getRange(params, "zoom");
  const onlyDiff = params.get("diff") === "1";
  const set = (key: string, value: string | string[] | null) => setParams((p) => setParam(p, key, value), { replace: true });

  // How many runs are read so far: thousands take seconds (about 1 s a thousand on the server).
  const [read, setRead] = useState(0);
  const rowsQuery = useCompareRows(project, named, matching, setRead);
  const rows = useMemo(() => rowsQuery.data ?? [], [rowsQuery.data]);
  const allPaths = useMemo(() => [...new Set(rows.flatMap((r) => Object.keys(r)))].sort(), [rows]);
  const seriesPaths = useMemo(
    () => allPaths.filter((p) => rows.some((r) => r[p]?.type === "floatSeries") && !p.startsWith("monitoring/")),
    [allPaths, rows],
  );
  const chosen = params.has("series") ? getList(params, "series") : seriesPaths.slice(0, 3);
  const params_ = useMemo(() => parameterPaths(rows), [rows]);
  const differing = useMemo(() => differingPaths(rows, params_), [rows, params_]);
  const labels = useMemo(() => rows.map((r) => legendLabel(r, differing)), [rows, differing]);
  const orderedIds = useMemo(() => rows.map((r) => String(r["sys/id"].value)), [rows]);
  // The runs compared: those named, or (all=1) those the query matched, once read.
  const runIds = matching ? orderedIds : named;
  const baseline = params.get("base") ?? runIds[0];
  const backToTable = setParam(matching ? queryParams(matching) : new URLSearchParams(), "sel", matching ? SELECT_ALL : runIds).toString();
  // Every line of every chart in one request (get_many_series_buckets), not one per line; on a time
  // axis the buckets carry their points' times. It names the runs of the URL, so with the series in
  // the URL too it starts at once, beside the runs' fields rather than after them (lines are found
  // by run id, whatever the order).
  const timed = xAxis !== "step";
  const range = timed ? null : zoom; // a zoom is a step range
  const bulk = useQuery({
    queryKey: ["series-many", project, runIds, chosen, range, timed],
    enabled: tab === "charts" && runIds.length > 0 && chosen.length > 0,
    queryFn: ({ signal }) =>
      fetchManySeriesViews(
        { project, runIds, paths: chosen, buckets: WIDE_CHART_BUCKETS, stepMin: range?.[0], stepMax: range?.[1], timestamps: timed },
        signal,
      ),
    staleTime: Infinity,
    placeholderData: (prev) => prev,
    retry: false,
  });

  if (rowsQuery.isError) return <p className="error">{String(rowsQuery.error)}</p>;
  const progress = read ? ` ${read.toLocaleString("en")} read so far` : "";
  if (matching && !rowsQuery.data) return <p className="loading">Loading the runs the query matches…{progress}</p>;
  if (!runIds.length)
    return (
      <p className="muted page">
        {matching ? "No runs match the query. " : "No runs chosen. "}
        Select runs in the <Link to={`/p/${workspace}/${name}`}>runs table</Link> and press Compare.
      </p>
    );
  if (!rowsQuery.data) return <p className="loading">Loading {runIds.length} runs…{progress}</p>;

  return (
    <section className="page compare-page">
      <h1>
        Comparing {rows.length} runs
        <Link className="small" to={`/p/${workspace}/${name}?${backToTable}`}>
          back to the table
        </Link>
      </h1>
      <nav className="tabs">
        {TABS.map((t) => (
          <button key={t} className={t === tab ? "active" : ""} onClick={() => set("tab", t)}>
            {t}
          </button>
        ))}
      </nav>
      {tab === "charts" ? (
        <>
          <div className="toolbar">
            <label>
              Series{" "}
              <select
                multiple
                aria-label="series"
                value={chosen}
                size={Math.min(6, Math.max(2, seriesPaths.length))}
                onChange={(e) => set("series", [...e.target.selectedOptions].map((o) => o.value))}
              >
                {seriesPaths.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
            <label>
              x axis{" "}
              <select aria-label="x axis" value={xAxis} onChange={(e) => set("x", e.target.value === "step" ? null : e.target.value)}>
                <option value="step">step</option>
                <option value="relative">relative time</option>
                <option value="wall">wall time</option>
              </select>
            </label>
            <label className="check">
              <input type="checkbox" checked={logY} onChange={() => set("log", logY ? null : "1")} /> log scale
            </label>
            <label>
              smoothing{" "}
              <input type="range" min={0} max={0.99} step={0.01} value={smoothing} aria-label="smoothing" onChange={(e) => set("smooth", e.target.value === "0" ? null : e.target.value)} />{" "}
              {smoothing.toFixed(2)}
            </label>
          </div>
          <ul className="legend" data-testid="legend">
            {labels.map((l, i) => (
              <li key={l}>
                <span className="swatch" style={{ background: colorFor(i) }} />
                {l}
              </li>
            ))}
          </ul>
          {bulk.isError ? <p className="error">{String(bulk.error)}</p> : null}
          <div className="charts wide">
            {chosen.map((p) => (
              <CompareChart
                key={p}
                runIds={orderedIds}
                labels={labels}
                path={p}
                xAxis={xAxis}
                logY={logY}
                smoothing={smoothing}
                zoom={zoom}
                onZoom={(z) => set("zoom", z ? z.map(String) : null)}
                bulk={bulk.data}
              />
            ))}
          </div>
        </>
      ) : null}
      {tab === "table" ? (
        <SideBySide rows={rows} paths={allPaths} onlyDiff={onlyDiff} baseline={baseline} onBaseline={(id) => set("base", id)} onOnlyDiff={() => set("diff", onlyDiff ? null : "1")} />
      ) : null}
      {tab === "parallel" ? <Parallel rows={rows} params={params_} seriesPaths={seriesPaths} chosen={getList(params, "axes")} onAxes={(a) => set("axes", a)} /> : null}
      {tab === "scatter" ? (
        <Scatter rows={rows} paths={allPaths} x={params.get("sx") ?? differing[0] ?? params_[0] ?? ""} y={params.get("sy") ?? seriesPaths[0] ?? ""} onX={(v) => set("sx", v)} onY={(v) => set("sy", v)} />
      ) : null}
      {tab === "data" ? (
        <DataTab project={project} runIds={orderedIds} baseline={baseline} other={params.get("other")} onBaseline={(id) => set("base", id)} onOther={(id) => set("other", id)} />
      ) : null}
    </section>
  );
}

/** The tracked files of two runs: the pinned baseline against one other run. */
function DataTab({
  project,
  runIds,
  baseline,
  other,
  onBaseline,
  onOther,
}: {
  project: string;
  runIds: string[];
  baseline: string;
  other: string | null;
  onBaseline: (id: string) => void;
  onOther: (id: string) => void;
}) {
  const runA = runIds.includes(baseline) ? baseline : runIds[0];
  const runB = other && runIds.includes(other) && other !== runA ? other : (runIds.find((id) => id !== runA) ?? runA);
  return (
    <>
      <div className="toolbar">
        <label>
          run A{" "}
          <select aria-label="run A" value={runA} onChange={(e) => onBaseline(e.target.value)}>
            {runIds.map((id) => (
              <option key={id}>{id}</option>
            ))}
          </select>
        </label>
        <label>
          run B{" "}
          <select aria-label="run B" value={runB} onChange={(e) => onOther(e.target.value)}>
            {runIds.map((id) => (
              <option key={id}>{id}</option>
            ))}
          </select>
        </label>
        <span className="muted">Files tracked with track_files: added, removed and changed from A to B.</span>
      </div>
      <DataDiff project={project} runA={runA} runB={runB} />
    </>
  );
}

function axisValues(rows: Row[], path: string): (number | string | null)[] {
  return rows.map((r) => {
    const f = r[path];
    if (!f) return null;
    const n = numeric(f.value);
    return n !== null ? n : formatValue(f.value);
  });
}

function Parallel({ rows, params, seriesPaths, chosen, onAxes }: { rows: Row[]; params: string[]; seriesPaths: string[]; chosen: string[]; onAxes: (a: string[]) => void }) {
  const options = [...params, ...seriesPaths];
  const axes = (chosen.length ? chosen : [...params.slice(0, 6), ...seriesPaths.slice(0, 2)]).filter((a) => options.includes(a));
  return (
    <>
      <div className="toolbar">
        <label>
          Axes{" "}
          <select multiple aria-label="axes" value={axes} size={Math.min(6, Math.max(2, options.length))} onChange={(e) => onAxes([...e.target.selectedOptions].map((o) => o.value))}>
            {options.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <span className="muted">Drag along an axis to brush; click it to clear.</span>
      </div>
      <ParallelCoords axes={axes.map((a) => ({ key: a, values: axisValues(rows, a) }))} labels={rows.map((r) => String(r["sys/id"].value))} colors={rows.map((_, i) => colorFor(i))} />
    </>
  );
}

function Scatter({ rows, paths, x, y, onX, onY }: { rows: Row[]; paths: string[]; x: string; y: string; onX: (v: string) => void; onY: (v: string) => void }) {
  const numericPaths = paths.filter((p) => rows.some((r) => r[p] && numeric(r[p].value) !== null));
  const pts = rows
    .map((r) => ({ x: numeric(r[x]?.value ?? null), y: numeric(r[y]?.value ?? null) }))
    .filter((p): p is { x: number; y: number } => p.x !== null && p.y !== null)
    .sort((a, b) => a.x - b.x);
  return (
    <>
      <div className="toolbar">
        <label>
          x{" "}
          <select aria-label="scatter x" value={x} onChange={(e) => onX(e.target.value)}>
            {numericPaths.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          y{" "}
          <select aria-label="scatter y" value={y} onChange={(e) => onY(e.target.value)}>
            {numericPaths.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <span className="muted">A series counts as its last value.</span>
      </div>
      <Chart
        title={`${y} against ${x}`}
        xLabel={x}
        series={[{ label: `${y} vs ${x}`, color: colorFor(0), x: pts.map((p) => p.x), y: pts.map((p) => p.y), points: true }]}
        testId="scatter"
      />
    </>
  );
}
