// Live updates of one run: the server's event stream (`run_live`), resumed from its cursor.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { projectParams } from "./client";
import { appendPoints, type SeriesView } from "./series";
import { decodeFields, decodeValue } from "./wire";

export interface PointsEvent {
  path: string;
  steps: number[];
  timestamps: number[];
  values: unknown[];
}

export function liveUrl(project: string, runId: string, after: Record<string, number>, since: number): string {
  const { workspace, project: name } = projectParams(project);
  const q = new URLSearchParams();
  for (const [path, step] of Object.entries(after)) {
    q.append("path", path);
    q.append("after", String(Number.isFinite(step) ? step : -1e300));
  }
  q.set("since", String(since));
  q.set("seconds", "600");
  return `/api/v1/projects/${workspace}/${name}/runs/${runId}/live?${q}`;
}

/**
 * Follows a run while its page is open: new points of `paths` are appended to the charts' cached
 * views (nothing is fetched again) and the run's fields replaced when it changes.
 */
export function useRunLive(project: string, runId: string, paths: string[], modified: number | null) {
  const client = useQueryClient();
  const since = useRef(0);
  if (modified !== null && modified > since.current) since.current = modified;
  const key = paths.join("\n");
  const enabled = modified !== null;
  useEffect(() => {
    if (!enabled || typeof EventSource === "undefined") return;
    const lastStep = (path: string): number => {
      const view = client.getQueryData<SeriesView>(["series", project, runId, path, null]);
      return view && view.x.length ? view.x[view.x.length - 1] : -Infinity;
    };
    let source: EventSource | null = null;
    let closed = false;
    const open = () => {
      const after = Object.fromEntries(paths.map((p) => [p, lastStep(p)]));
      source = new EventSource(liveUrl(project, runId, after, since.current));
      source.addEventListener("run", (e) => {
        const data = JSON.parse((e as MessageEvent).data) as { modification_time: number; fields: Record<string, { type: string; value: unknown }> };
        since.current = data.modification_time;
        client.setQueryData(["fields", project, runId], decodeFields(data.fields));
      });
      source.addEventListener("points", (e) => {
        const data = JSON.parse((e as MessageEvent).data) as PointsEvent;
        const values = data.values.map((v) => decodeValue(v) as number);
        client.setQueryData<SeriesView>(["series", project, runId, data.path, null], (old) =>
          old ? appendPoints(old, data.steps, values, data.timestamps) : old,
        );
      });
      source.addEventListener("error", () => {
        // The stream ends after its time limit or a server restart: reopen from where it was.
        source?.close();
        if (!closed) setTimeout(open, 2000);
      });
    };
    open();
    return () => {
      closed = true;
      source?.close();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, project, runId, key, enabled]);
}
