// One chart library for the whole UI: uPlot (canvas; draws hundreds of long series without stutter).
// Faceted mode (mode 2): each series has its own x values, so runs with different steps overlay exactly.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { numberTickLabels } from "../lib/numberTicks";
import { WHOLE_INCREMENTS, wholeTickLabels } from "../lib/wholeTicks";

export interface ChartSeries {
  label: string;
  color: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Draw points only (scatter). */
  points?: boolean;
}

export interface ChartProps {
  title: string;
  series: ChartSeries[];
  xLabel?: string;
  /** x holds unix seconds: a time axis. */
  xTime?: boolean;
  /** x holds whole numbers (trial numbers): ticks and labels at whole numbers only. */
  xWhole?: boolean;
  logY?: boolean;
  logX?: boolean;
  /** Shown over the chart when what it draws is not every point (null: exact). */
  note?: string | null;
  zoom?: [number, number] | null;
  onZoom?: (range: [number, number] | null) => void;
  height?: number;
  testId?: string;
}

function padded(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    return [min - pad, max + pad];
  }
  const pad = (max - min) * 0.02;
  return [min - pad, max + pad];
}

/** Non-finite (and, on a log scale, non-positive) values are gaps, not points at infinity. */
function cleanY(y: ArrayLike<number>, log: boolean): (number | null)[] | ArrayLike<number> {
  let dirty = false;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isFinite(v) || (log && v <= 0)) {
      dirty = true;
      break;
    }
  }
  if (!dirty) return y;
  return Array.from(y, (v) => (Number.isFinite(v) && !(log && v <= 0) ? v : null));
}

function toData(series: ChartSeries[], logY: boolean, logX: boolean): uPlot.AlignedData {
  const data: unknown[] = [null];
  for (const s of series) {
    let x: ArrayLike<number> = s.x;
    let y = cleanY(s.y, logY);
    if (logX) {
      const keep: number[] = [];
      for (let i = 0; i < x.length; i++) if (x[i] > 0) keep.push(i);
      x = keep.map((i) => s.x[i]);
      y = keep.map((i) => (y as ArrayLike<number | null>)[i] as number);
    }
    data.push([x, y]);
  }
  return data as unknown as uPlot.AlignedData;
}

const POINT_SIZE = 5;

/**
 * A scatter's points as one filled path of dots. uPlot's own point markers are not drawn for
 * faceted (mode 2) data, so a series of points only would show an empty plot.
 */
function dots(size: number): uPlot.Series.PathBuilder {
  return (u, seriesIdx) => {
    const [xs, ys] = u.data[seriesIdx] as unknown as [ArrayLike<number>, ArrayLike<number | null>];
    const radius = (size * uPlot.pxRatio) / 2;
    const path = new Path2D();
    for (let i = 0; i < xs.length; i++) {
      const y = ys[i];
      if (y === null || !Number.isFinite(y) || !Number.isFinite(xs[i])) continue;
      const cx = u.valToPos(xs[i], "x", true);
      const cy = u.valToPos(y, "y", true);
      path.moveTo(cx + radius, cy);
      path.arc(cx, cy, radius, 0, 2 * Math.PI);
    }
    return { fill: path, stroke: path };
  };
}

export function Chart(props: ChartProps) {
  const { title, series, xLabel, xTime = false, xWhole = false, logY = false, logX = false, note, zoom, onZoom } = props;
  const height = props.height ?? 260;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const onZoomRef = useRef(onZoom);
  onZoomRef.current = onZoom;
  // Structure that needs a new plot; data alone is set in place.
  const shape = `${series.map((s) => `${s.label}|${s.color}|${s.points ? 1 : 0}`).join(";")}|${xTime}|${xWhole}|${logY}|${logX}|${height}`;

  useEffect(() => {
    const el = box.current;
    // uPlot's faceted mode needs a series to place its x scale: nothing to draw yet is an empty box.
    if (!el || series.length === 0) return;
    const width = Math.max(200, el.clientWidth);
    const opts: uPlot.Options = {
      mode: 2,
      width,
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: true }, points: { show: false } },
      scales: {
        // A range of one value (every point at one x or y) would give uPlot no ticks to draw: pad it.
        x: { time: xTime, auto: true, distr: logX ? 3 : 1, range: logX ? undefined : padded },
        y: { auto: true, distr: logY ? 3 : 1, range: logY ? undefined : padded },
      },
      axes: [
        {
          label: xLabel,
          stroke: "#555",
          grid: { stroke: "#eee" },
          ...(xWhole
            ? { incrs: WHOLE_INCREMENTS, values: (_u: uPlot, splits: number[]) => wholeTickLabels(splits) }
            : xTime
              ? {}
              : { values: (_u: uPlot, splits: number[], _axis: number, _space: number, spacing: number) => numberTickLabels(splits, spacing, logX) }),
        },
        {
          stroke: "#555",
          grid: { stroke: "#eee" },
          size: 60,
          values: (_u: uPlot, splits: number[], _axis: number, _space: number, spacing: number) => numberTickLabels(splits, spacing, logY),
        },
      ],
      series: [
        {},
        ...series.map(
          (s): uPlot.Series => ({
            label: s.label,
            stroke: s.color,
            // 1 px: Skia strokes a line this thin as a hairline; at 1.25 px it fills the outline of
            // every segment, and 100 noisy runs took 24 s of canvas rasterising instead of 0.4 s.
            width: 1,
            facets: [
              { scale: "x", auto: true },
              { scale: "y", auto: true },
            ],
            fill: s.points ? s.color : undefined,
            paths: s.points ? dots(POINT_SIZE) : uPlot.paths.linear!(),
            points: { show: false },
          }),
        ),
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            onZoomRef.current?.([min, max]);
          },
        ],
      },
    };
    const u = new uPlot(opts, toData(series, logY, logX), el);
    plot.current = u;
    const reset = () => onZoomRef.current?.(null);
    u.over.addEventListener("dblclick", reset);
    const resize = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.over.removeEventListener("dblclick", reset);
      u.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(toData(series, logY, logX), true);
    if (zoom) u.setScale("x", { min: zoom[0], max: zoom[1] });
  }, [series, zoom, logY, logX, shape]);

  return (
    <figure className="chart" data-testid={props.testId ?? "chart"} data-points={series.reduce((a, s) => a + s.x.length, 0)}>
      <figcaption>
        <span className="chart-title">{title}</span>
        {note ? (
          <span className="chart-note" data-testid="downsampled" title="Drag across the chart to zoom; a zoomed range is read at full resolution.">
            {note}
          </span>
        ) : (
          <span className="chart-note exact">all points</span>
        )}
        {zoom ? (
          <button className="link" onClick={() => onZoom?.(null)}>
            reset zoom
          </button>
        ) : null}
      </figcaption>
      <div ref={box} className="chart-canvas" style={series.length ? undefined : { height }}>
        {series.length ? null : <span className="muted">no points</span>}
      </div>
    </figure>
  );
}

/** A stable color per index, readable on white (golden-angle hues). */
export function colorFor(i: number): string {
  return `hsl(${(i * 137.508) % 360}, 65%, 45%)`;
}
