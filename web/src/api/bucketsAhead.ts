// Downsampled lines of many runs (`get_many_series_buckets`) as raw msgpack, and the compare page's
// request started before the app has loaded: the entry module starts it, so the server computes
// the lines while the browser downloads and compiles the app and the page's code.
import { readAhead } from "../lib/readAhead";
import { getList, getRange } from "../lib/url";
import { api, errorDetail, projectParams } from "./client";

/** Buckets per line of a run page's chart (a few hundred pixels wide, a line or two each). */
export const CHART_BUCKETS = 1000;
/**
 * Buckets per line of a chart as wide as the window (compare's charts): one per two pixel columns
 * of the window as it was when the app loaded (so the request read ahead and the page's agree). A
 * bucket is drawn as its min and max, so a line gets about a vertex per pixel column; more would
 * add vertices to place and rasterise that no pixel shows.
 */
export const WIDE_CHART_BUCKETS = Math.min(2000, Math.max(200, Math.ceil(window.innerWidth / 2)));
/** The compare page's route: /p/{workspace}/{project}/compare. */
const COMPARE_ROUTE = /^\/p\/([^/]+)\/([^/]+)\/compare\/?$/;
/** The server accepts at most this many runs, and answers at most this many lines, a request. */
const MAX_RUNS_PER_REQUEST = 1000;
const MAX_LINES_PER_REQUEST = 2000;

/** How many runs one request may name so that it answers every line of `paths` paths. */
export function runsPerRequest(paths: number): number {
  return Math.max(1, Math.min(MAX_RUNS_PER_REQUEST, Math.floor(MAX_LINES_PER_REQUEST / Math.max(1, paths))));
}
/** How long a request read ahead waits for the page to ask for it. */
const READ_AHEAD_MS = 10_000;

export interface ManyBucketsRequest {
  project: string;
  runIds: string[];
  paths: string[];
  buckets: number;
  stepMin?: number | null;
  stepMax?: number | null;
  /** Each bucket's points with their times (a chart on a time axis). */
  timestamps?: boolean;
}

/** One request's msgpack body: a list of lines, each `{run_id, path, ...}` or `{..., error}`. */
export async function requestManyBuckets(req: ManyBucketsRequest, signal?: AbortSignal): Promise<ArrayBuffer> {
  const { data, error, response } = await api.GET("/api/v1/projects/{workspace}/{project}/series/buckets", {
    params: {
      path: projectParams(req.project),
      query: {
        run_id: req.runIds,
        path: req.paths,
        buckets: req.buckets,
        step_min: req.stepMin ?? undefined,
        step_max: req.stepMax ?? undefined,
        timestamps: req.timestamps || undefined,
        // The line the chart draws, not each bucket's eight arrays: a third of the bytes.
        form: "line",
      },
    },
    parseAs: "arrayBuffer",
    signal,
  });
  if (!response.ok) throw errorDetail(error, response.status);
  return data as unknown as ArrayBuffer;
}

/** The compare page's charts request for a link, when the link names the runs and the series. */
export function compareRequestOf(pathname: string, search: string): ManyBucketsRequest | null {
  const route = COMPARE_ROUTE.exec(pathname);
  if (!route) return null;
  const params = new URLSearchParams(search);
  const runIds = getList(params, "runs");
  const paths = getList(params, "series"); // without it, the page picks series from the runs' fields
  if (!runIds.length || !paths.length || runIds.length > runsPerRequest(paths.length)) return null;
  if ((params.get("tab") ?? "charts") !== "charts") return null;
  const timed = ["relative", "wall"].includes(params.get("x") ?? "");
  const range = timed ? null : getRange(params, "zoom");
  return {
    project: `${decodeURIComponent(route[1])}/${decodeURIComponent(route[2])}`,
    runIds,
    paths,
    buckets: WIDE_CHART_BUCKETS,
    stepMin: range?.[0],
    stepMax: range?.[1],
    timestamps: timed,
  };
}

function keyOf(req: ManyBucketsRequest): string {
  const { project, runIds, paths, buckets, stepMin, stepMax, timestamps } = req;
  return JSON.stringify([project, runIds, paths, buckets, stepMin ?? null, stepMax ?? null, Boolean(timestamps)]);
}

const charts = readAhead<ArrayBuffer>(READ_AHEAD_MS);

/** On the compare page's route, starts its charts' request now and answers true. */
export function readCompareAhead(pathname: string, search: string): boolean {
  const req = compareRequestOf(pathname, search);
  if (!req) return false;
  const body = requestManyBuckets(req);
  body.catch(() => undefined); // a failure is reported when the page takes it
  charts.start(keyOf(req), body);
  return true;
}

/** The body read ahead for exactly this request, once, while it is fresh; or null. */
export function takeBucketsAhead(req: ManyBucketsRequest): Promise<ArrayBuffer> | null {
  return charts.take(keyOf(req));
}
