// Server state through TanStack Query: one hook per kind of data, shared by the pages.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, projectParams, unwrap } from "./client";
import { decodeFields, decodeRow, type Field, type Row } from "./wire";

export const FIRST_PAGE = 100; // small, so the first rows show at once
export const NEXT_PAGE = 2000;
/** Columns every runs-table row carries, whatever else is shown. */
export const BASE_COLUMNS = ["sys/id", "sys/name", "sys/state", "sys/failed", "sys/tags", "sys/creation_time"];

export interface RunsQuery {
  project: string;
  query: string;
  /** Field paths to read besides BASE_COLUMNS; null: every field (the compare page). */
  columns: string[] | null;
  sortBy: string;
  ascending: boolean;
  trash: boolean;
}

/** The query as sent: the trash is a query of its own; elsewhere trashed runs are left out. */
export function effectiveQuery(query: string, trash: boolean): string {
  const user = query.trim();
  const trashed = trash ? "sys/trashed = true" : "not sys/trashed = true";
  return user ? `(${user}) and ${trashed}` : trashed;
}

export async function fetchRunsPage(q: RunsQuery, limit: number, cursor?: string | null) {
  const page = await unwrap(
    api.GET("/api/v1/projects/{workspace}/{project}/table", {
      params: {
        path: projectParams(q.project),
        query: {
          query: effectiveQuery(q.query, q.trash),
          columns: q.columns === null ? undefined : [...new Set([...BASE_COLUMNS, ...q.columns])],
          sort_by: q.sortBy,
          ascending: q.ascending,
          limit,
          cursor: cursor ?? undefined,
        },
      },
    }),
  );
  const raw = page as { rows: Record<string, unknown>[]; next_cursor: string | null };
  return { rows: raw.rows.map(decodeRow), next: raw.next_cursor };
}

export function useRuns(q: RunsQuery) {
  return useInfiniteQuery({
    queryKey: ["runs", q],
    queryFn: ({ pageParam }) => fetchRunsPage(q, pageParam ? NEXT_PAGE : FIRST_PAGE, pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next,
    staleTime: 60_000,
  });
}

/** Rows of some runs only (live updates patch the table with these). */
export async function fetchRows(q: RunsQuery, runIds: string[]): Promise<Row[]> {
  const ids = runIds.map((id) => JSON.stringify(id)).join(", ");
  const page = await fetchRunsPage({ ...q, query: `sys/id in [${ids}]`, trash: q.trash }, runIds.length);
  return page.rows;
}

export interface ProjectPath {
  path: string;
  type: string;
  /** How many of the project's runs have the field. */
  runs: number;
}

/** Every field path of the project with its type (`list_field_paths`), for the column picker and completion. */
export function useProjectPaths(project: string, enabled = true) {
  return useQuery({
    queryKey: ["paths", project],
    enabled,
    queryFn: async (): Promise<ProjectPath[]> =>
      await unwrap(api.GET("/api/v1/projects/{workspace}/{project}/paths", { params: { path: projectParams(project) } })),
    staleTime: 60_000,
  });
}

export function useFields(project: string, runId: string) {
  return useQuery({
    queryKey: ["fields", project, runId],
    queryFn: async (): Promise<Field[]> => {
      const raw = await unwrap(
        api.GET("/api/v1/projects/{workspace}/{project}/runs/{run_id}/fields", {
          params: { path: { ...projectParams(project), run_id: runId } },
        }),
      );
      return decodeFields(raw as Record<string, { type: string; value: unknown }>);
    },
  });
}

export interface SavedView {
  id: number;
  name: string;
  query: string;
  columns: string[];
  sort_by: string;
  ascending: boolean;
  owner: string;
}

export function useViews(project: string) {
  return useQuery({
    queryKey: ["views", project],
    queryFn: async () =>
      (await unwrap(
        api.GET("/api/v1/projects/{workspace}/{project}/views", { params: { path: projectParams(project) } }),
      )) as SavedView[],
  });
}

/** A file's content as a Blob (typed by its mime type, so images and text show as what they are). */
export async function fetchBlob(project: string, sha256: string, mime: string): Promise<Blob> {
  const { workspace, project: name } = projectParams(project);
  const response = await fetch(`/api/v1/projects/${workspace}/${name}/blobs/${sha256}`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`the file ${sha256.slice(0, 12)} could not be read (${response.status})`);
  const bytes = await response.arrayBuffer();
  return new Blob([bytes], { type: mime || "application/octet-stream" });
}

export function blobUrl(project: string, sha256: string): string {
  const { workspace, project: name } = projectParams(project);
  return `/api/v1/projects/${workspace}/${name}/blobs/${sha256}`;
}
