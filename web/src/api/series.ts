// Series for charts: downsampled buckets (min/max kept) for the overview, exact points when zoomed in.
import { decode } from "@msgpack/msgpack";
import { type ManyBucketsRequest, requestManyBuckets, runsPerRequest, takeBucketsAhead } from "./bucketsAhead";
import { api, errorDetail, projectParams } from "./client";

export interface SeriesView {
  /** Steps (or the x the chart uses), ascending. */
  x: Float64Array;
  y: Float64Array;
  /** Unix seconds of each point: exact views, and buckets read with their times. */
  t: Float64Array | null;
  /** False when the points are a bucketed overview of more points. */
  exact: boolean;
  /** How many points the range holds on the server. */
  total: number;
}

function f64(raw: unknown): Float64Array {
  const bytes = raw as Uint8Array;
  // msgpack hands out views into one buffer, at any offset: a float64 view needs one that is a
  // multiple of 8, else a copy (sliced, which neither zero-fills nor copies twice).
  if (bytes.byteOffset % 8 === 0) return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function decodeBuckets(buffer: ArrayBuffer): SeriesView {
  return bucketsBodyToView(decode(new Uint8Array(buffer)) as Record<string, unknown>);
}

/**
 * One downsampled line as the server sends it with `form=line`: its `exact` points, or the line a
 * chart draws through its buckets (`x`, `y`, `t`, `total`; despina.server.series_wire.line_body).
 */
export function bucketsBodyToView(body: Record<string, unknown>): SeriesView {
  if (body.exact) {
    const x = f64(body.steps);
    return { x, y: f64(body.values), t: f64(body.timestamps), exact: true, total: x.length };
  }
  if (body.x === undefined) throw new Error("the server sent a series as buckets, not as the line to draw");
  return { x: f64(body.x), y: f64(body.y), t: body.t === undefined ? null : f64(body.t), exact: false, total: Number(body.total) };
}

export interface SeriesRequest {
  project: string;
  runId: string;
  path: string;
  buckets: number;
  stepMin?: number | null;
  stepMax?: number | null;
}

/** A float series for a chart: buckets over the range, or its exact points when they are few. */
export async function fetchSeriesView(req: SeriesRequest, signal?: AbortSignal): Promise<SeriesView> {
  const { data, error, response } = await api.GET(
    "/api/v1/projects/{workspace}/{project}/runs/{run_id}/series/buckets",
    {
      params: {
        path: { ...projectParams(req.project), run_id: req.runId },
        query: {
          path: req.path,
          buckets: req.buckets,
          step_min: req.stepMin ?? undefined,
          step_max: req.stepMax ?? undefined,
          form: "line",
        },
      },
      parseAs: "arrayBuffer",
      signal,
    },
  );
  if (!response.ok) throw errorDetail(error, response.status);
  return decodeBuckets(data as unknown as ArrayBuffer);
}

export type ManySeriesRequest = ManyBucketsRequest;

/** Key of one line in the answer of fetchManySeriesViews. */
export function lineKey(runId: string, path: string): string {
  return `${runId}\u0000${path}`;
}

/**
 * Every (run, path) line downsampled, in as few requests as the server's limits allow
 * (`get_many_series_buckets`) instead of one per line. A line a run lacks is left out of the map.
 */
export async function fetchManySeriesViews(req: ManySeriesRequest, signal?: AbortSignal): Promise<Map<string, SeriesView>> {
  const out = new Map<string, SeriesView>();
  // The server answers at most 2,000 lines a request: 666 runs of 3 charts, not 1,000.
  const perRequest = runsPerRequest(new Set(req.paths).size);
  for (let i = 0; i < req.runIds.length; i += perRequest) {
    const part = { ...req, runIds: req.runIds.slice(i, i + perRequest) };
    // The entry module may have sent this very request already (a compare link opened).
    const data = await (takeBucketsAhead(part) ?? requestManyBuckets(part, signal));
    const lines = decode(new Uint8Array(data as unknown as ArrayBuffer)) as Record<string, unknown>[];
    for (const line of lines) {
      if (line.error !== undefined) continue; // the run has no such float series: no line to draw
      out.set(lineKey(String(line.run_id), String(line.path)), bucketsBodyToView(line));
    }
  }
  return out;
}

/** Every point of a series (with timestamps), for time axes and exports. */
export async function fetchSeriesExact(
  project: string,
  runId: string,
  path: string,
  signal?: AbortSignal,
): Promise<SeriesView> {
  const { data, error, response } = await api.GET("/api/v1/projects/{workspace}/{project}/runs/{run_id}/series", {
    params: { path: { ...projectParams(project), run_id: runId }, query: { path } },
    parseAs: "arrayBuffer",
    signal,
  });
  if (!response.ok) throw errorDetail(error, response.status);
  const body = decode(new Uint8Array(data as unknown as ArrayBuffer)) as Record<string, unknown>;
  const x = f64(body.steps);
  const y = body.kind === "float" ? f64(body.values) : new Float64Array(x.length).fill(NaN);
  return { x, y, t: f64(body.timestamps), exact: true, total: x.length };
}

/** Points appended after what a view holds (live updates), kept in step order. */
export function appendPoints(view: SeriesView, steps: number[], values: number[], timestamps: number[]): SeriesView {
  const last = view.x.length ? view.x[view.x.length - 1] : -Infinity;
  const keep = steps.map((s, i) => [s, values[i], timestamps[i]] as const).filter(([s]) => s > last);
  if (!keep.length) return view;
  const x = new Float64Array(view.x.length + keep.length);
  const y = new Float64Array(x.length);
  x.set(view.x);
  y.set(view.y);
  let t: Float64Array | null = null;
  if (view.t) {
    t = new Float64Array(x.length);
    t.set(view.t);
  }
  keep.forEach(([s, v, ts], i) => {
    x[view.x.length + i] = s;
    y[view.x.length + i] = v;
    if (t) t[view.x.length + i] = ts;
  });
  return { ...view, x, y, t, total: view.total + keep.length };
}

/** TensorBoard's debiased exponential moving average; NaN points are kept as they are. */
export function smooth(y: Float64Array, weight: number): Float64Array {
  if (weight <= 0) return y;
  const out = new Float64Array(y.length);
  let last = 0;
  let debias = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    debias = debias * weight + (1 - weight);
    out[i] = last / debias;
  }
  return out;
}
