// Server state through TanStack Query: one hook per kind of data, shared by the pages.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, projectParams, unwrap } from "./client";
import { fetchRunsPage, FIRST_PAGE, NEXT_PAGE, type RunsQuery, takeFirstPage } from "./runsPage";
import type { TableRow } from "./rowPage";
import { decodeFields, type Field } from "./wire";

export { BASE_COLUMNS, effectiveQuery, fetchRunRecords, fetchRunsPage, FIRST_PAGE, NEXT_PAGE, type RunsQuery } from "./runsPage";

export function useRuns(q: RunsQuery) {
  return useInfiniteQuery({
    queryKey: ["runs", q],
    queryFn: async ({ pageParam }) => {
      if (pageParam) return fetchRunsPage(q, NEXT_PAGE, pageParam, true);
      return (await takeFirstPage(q)) ?? fetchRunsPage(q, FIRST_PAGE);
    },
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next,
    staleTime: 60_000,
  });
}

/** Rows of some runs only (live updates patch the table with these). */
export async function fetchRows(q: RunsQuery, runIds: string[]): Promise<TableRow[]> {
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
