// Pages of the runs table (`/table`), and its first page requested before the app has loaded: the
// entry module starts it, so the request runs while the browser downloads and compiles the app.
import { createFinalURL, createQuerySerializer, defaultPathSerializer } from "openapi-fetch";
import { readAhead } from "../lib/readAhead";
import { getList } from "../lib/url";
import { api, projectParams, unwrap } from "./client";
import { fetchPageOffThread } from "./pageDecoder";
import { pageData, RowPage, type TableRow } from "./rowPage";
import { decodeRow, type Row } from "./wire";

export const FIRST_PAGE = 100; // small, so the first rows show at once
// The pages read after the first, in the background. Small: a page the server has begun goes on when
// the tab is closed or reloaded, and the next first page waits behind it (500 rows: about 0.2 s of
// server work; 2,000 rows left up to a second, which showed as first rows 0.5-1 s later).
export const NEXT_PAGE = 500;
/** Rows per request of fetchMatchingRecords (every field: about 1 s of the server's time). */
const RECORDS_PAGE = 1000;
/**
 * `sel` of the runs table's link for "every run the query matches" (its header checkbox), and the
 * compare page's `all=1`: a link that named thousands of runs one by one would not fit in a request
 * (uvicorn's httptools parser refuses one of 64 KB, about 6,000 run ids), so it could not be
 * reloaded or shared.
 */
export const SELECT_ALL = "*";
/** Columns every runs-table row carries, whatever else is shown. */
export const BASE_COLUMNS = ["sys/id", "sys/name", "sys/state", "sys/failed", "sys/tags", "sys/creation_time"];
/** Columns of a runs table whose link names none. */
export const DEFAULT_COLUMNS = ["sys/owner", "sys/creation_time"];
/** The runs table's route: /p/{workspace}/{project}. */
const RUNS_ROUTE = /^\/p\/([^/]+)\/([^/]+)\/?$/;
/** How long a first page read ahead waits for the table to ask for it. */
const READ_AHEAD_MS = 10_000;

export interface RunsQuery {
  project: string;
  query: string;
  /** Field paths to read besides BASE_COLUMNS; null: every field (the compare page). */
  columns: string[] | null;
  sortBy: string;
  ascending: boolean;
  trash: boolean;
}

export interface RunsPage {
  rows: TableRow[];
  next: string | null;
}

/** The query as sent: the trash is a query of its own; elsewhere trashed runs are left out. */
export function effectiveQuery(query: string, trash: boolean): string {
  const user = query.trim();
  const trashed = trash ? "sys/trashed = true" : "not sys/trashed = true";
  return user ? `(${user}) and ${trashed}` : trashed;
}

/** The runs table's query as its link holds it (q, cols, sort, asc, trash). */
export function runsQueryOf(project: string, params: URLSearchParams): RunsQuery & { columns: string[] } {
  return {
    project,
    query: params.get("q") ?? "",
    columns: params.has("cols") ? getList(params, "cols") : DEFAULT_COLUMNS,
    sortBy: params.get("sort") ?? "sys/creation_time",
    ascending: params.get("asc") === "1",
    trash: params.get("trash") === "1",
  };
}

const TABLE = "/api/v1/projects/{workspace}/{project}/table";

function tableParams(q: RunsQuery, limit: number, cursor?: string | null) {
  return {
    path: projectParams(q.project),
    query: {
      query: effectiveQuery(q.query, q.trash),
      columns: q.columns === null ? undefined : [...new Set([...BASE_COLUMNS, ...q.columns])],
      sort_by: q.sortBy,
      ascending: q.ascending,
      limit,
      cursor: cursor ?? undefined,
    },
  };
}

function request(q: RunsQuery, limit: number, cursor?: string | null) {
  return api.GET(TABLE, { params: tableParams(q, limit, cursor) });
}

/** The link of a `/table` request, serialised as the API client serialises it (request). */
export function tableUrl(q: RunsQuery, limit: number, cursor?: string | null): string {
  return createFinalURL(TABLE, {
    baseUrl: "",
    params: tableParams(q, limit, cursor),
    querySerializer: createQuerySerializer(),
    pathSerializer: defaultPathSerializer,
  });
}

interface RawPage {
  rows: Record<string, unknown>[];
  next_cursor: string | null;
}

function decodePage(page: unknown): RunsPage {
  const raw = page as RawPage;
  return { rows: new RowPage(pageData(raw.rows)).rows(), next: raw.next_cursor };
}

/**
 * A page of the runs table, held by column (RowPage). `offThread`: read and decoded in a worker, for
 * the pages read in the background (the first page is read at once: a worker would start first).
 */
export async function fetchRunsPage(q: RunsQuery, limit: number, cursor?: string | null, offThread = false): Promise<RunsPage> {
  if (!offThread) return decodePage(await unwrap(request(q, limit, cursor)));
  const { page, next } = await fetchPageOffThread(tableUrl(q, limit, cursor));
  return { rows: new RowPage(page).rows(), next };
}

/** The link parameters of a query (as runsQueryOf reads them back), without its columns. */
export function queryParams(q: Pick<RunsQuery, "query" | "sortBy" | "ascending" | "trash">): URLSearchParams {
  const params = new URLSearchParams();
  if (q.query) params.set("q", q.query);
  if (q.sortBy !== "sys/creation_time") params.set("sort", q.sortBy);
  if (q.ascending) params.set("asc", "1");
  if (q.trash) params.set("trash", "1");
  return params;
}

/** Runs with every field decoded into a record (the compare page's rows). */
export async function fetchRunRecords(q: RunsQuery, limit: number): Promise<Row[]> {
  const raw = (await unwrap(request(q, limit))) as RawPage;
  return raw.rows.map(decodeRow);
}

/**
 * Every run `q` matches, in its order, as records (fetchRunRecords), page after page; `onProgress`
 * hears how many are read after each page but the last.
 */
export async function fetchMatchingRecords(q: RunsQuery, onProgress?: (read: number) => void): Promise<Row[]> {
  const rows: Row[] = [];
  let cursor: string | null = null;
  do {
    const raw = (await unwrap(request(q, RECORDS_PAGE, cursor))) as RawPage;
    for (const row of raw.rows) rows.push(decodeRow(row));
    cursor = raw.next_cursor;
    if (cursor) onProgress?.(rows.length);
  } while (cursor);
  return rows;
}

const firstPage = readAhead<RunsPage | null>(READ_AHEAD_MS);

/**
 * On the runs table's route, requests its first page now (the entry module calls this before the
 * app's code has loaded) and answers true. A failure is not reported here: the table asks again
 * and shows it.
 */
export function readFirstPageAhead(pathname: string, search: string): boolean {
  const route = RUNS_ROUTE.exec(pathname);
  if (!route) return false;
  const q = runsQueryOf(`${decodeURIComponent(route[1])}/${decodeURIComponent(route[2])}`, new URLSearchParams(search));
  const page = request(q, FIRST_PAGE).then(
    ({ data, response }) => (response.ok && data ? decodePage(data) : null),
    () => null,
  );
  firstPage.start(JSON.stringify(q), page);
  return true;
}

/** The first page read ahead for exactly this query, once, while it is fresh; or null. */
export function takeFirstPage(q: RunsQuery): Promise<RunsPage | null> | null {
  return firstPage.take(JSON.stringify(q));
}
