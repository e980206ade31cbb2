import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { CHART_BUCKETS } from "../api/bucketsAhead";
import { fetchSeriesView, type SeriesView } from "../api/series";
import { Chart, colorFor } from "./Chart";


/** How a chart describes what it shows. */
export function downsampleNote(views: (SeriesView | undefined)[]): string | null {
  const sampled = views.filter((v): v is SeriesView => !!v && !v.exact);
  if (!sampled.length) return null;
  const total = sampled.reduce((a, v) => a + v.total, 0);
  return `downsampled: ${total.toLocaleString()} points, min/max kept · drag to zoom`;
}

/**
 * One run's float series: a bucketed overview (min and max kept), re-read at full resolution for the
 * zoomed range. Live points are appended to the overview's cache entry by useRunLive.
 */
export function RunSeriesChart({
  project,
  runId,
  path,
  zoom,
  onZoom,
  logY,
}: {
  project: string;
  runId: string;
  path: string;
  zoom: [number, number] | null;
  onZoom: (z: [number, number] | null) => void;
  logY?: boolean;
}) {
  const view = useQuery({
    queryKey: ["series", project, runId, path, zoom],
    queryFn: ({ signal }) =>
      fetchSeriesView({ project, runId, path, buckets: CHART_BUCKETS, stepMin: zoom?.[0], stepMax: zoom?.[1] }, signal),
    staleTime: Infinity,
    placeholderData: (prev) => prev,
  });
  const series = useMemo(
    () => (view.data ? [{ label: path, color: colorFor(0), x: view.data.x, y: view.data.y }] : []),
    [view.data, path],
  );
  if (view.isError) return <p className="error">{path}: {String(view.error)}</p>;
  return (
    <Chart
      title={path.split("/").pop() ?? path}
      series={series}
      xLabel="step"
      note={downsampleNote([view.data])}
      zoom={zoom}
      onZoom={onZoom}
      logY={logY}
      height={200}
      testId={`chart-${path}`}
    />
  );
}
