// Parallel coordinates in plain SVG (no second chart kit): one axis per field, brushable, log axes.
import { memo, useMemo, useRef, useState } from "react";

export interface PcAxis {
  key: string;
  /** Numbers, or strings (a categorical axis); null: the run has no value. */
  values: (number | string | null)[];
}

export interface PcProps {
  axes: PcAxis[];
  labels: string[];
  colors: string[];
  /** Index of a line to draw on top, thicker (the best trial). */
  highlight?: number | null;
  height?: number;
}

type Scale = { toY: (v: number | string) => number | null; ticks: { y: number; label: string }[]; log: boolean; canLog: boolean };

function makeScale(values: (number | string | null)[], top: number, bottom: number, log: boolean): Scale {
  const nums = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  const strs = [...new Set(values.filter((v): v is string => typeof v === "string"))].sort();
  if (strs.length && nums.length === 0) {
    const step = strs.length > 1 ? (bottom - top) / (strs.length - 1) : 0;
    const pos = new Map(strs.map((s, i) => [s, bottom - i * step]));
    return { toY: (v) => pos.get(String(v)) ?? null, ticks: strs.map((s) => ({ y: pos.get(s)!, label: s })), log: false, canLog: false };
  }
  const canLog = nums.length > 0 && nums.every((v) => v > 0);
  const useLog = log && canLog;
  const f = (v: number) => (useLog ? Math.log10(v) : v);
  let lo = Math.min(...nums.map(f));
  let hi = Math.max(...nums.map(f));
  if (!nums.length) [lo, hi] = [0, 1];
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  const toY = (v: number | string) => (typeof v === "number" && Number.isFinite(v) && (!useLog || v > 0) ? bottom - ((f(v) - lo) / (hi - lo)) * (bottom - top) : null);
  const ticks = [0, 0.5, 1].map((t) => {
    const raw = lo + t * (hi - lo);
    const value = useLog ? 10 ** raw : raw;
    return { y: bottom - t * (bottom - top), label: Number(value.toPrecision(3)).toString() };
  });
  return { toY, ticks, log: useLog, canLog };
}

export function ParallelCoords({ axes, labels, colors, highlight = null, height = 320 }: PcProps) {
  const [logAxes, setLogAxes] = useState<Set<string>>(new Set());
  const [brushes, setBrushes] = useState<Record<string, [number, number]>>({});
  const drag = useRef<{ key: string; y0: number } | null>(null);
  const [dragRange, setDragRange] = useState<{ key: string; y0: number; y1: number } | null>(null);
  const width = Math.max(400, axes.length * 130);
  const top = 30;
  const bottom = height - 30;
  const x = (i: number) => 60 + (i * (width - 120)) / Math.max(1, axes.length - 1);
  const scales = useMemo(() => axes.map((a) => makeScale(a.values, top, bottom, logAxes.has(a.key))), [axes, logAxes, bottom]);

  // A brush being dragged re-renders the axes on every move; the lines (one per run: thousands
  // when every run of a big table is compared) only when the brushes or the axes change.
  const lines = useMemo(
    () =>
      labels.map((_, run) =>
        axes
          .map((a, i) => {
            const v = a.values[run];
            const y = v === null ? null : scales[i].toY(v);
            return y === null ? null : `${x(i)},${y}`;
          })
          .filter(Boolean)
          .join(" "),
      ),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- x follows axes.length and width
    [axes, scales, labels, width],
  );
  const active = useMemo(
    () =>
      labels.map((_, run) =>
        axes.every((a, i) => {
          const b = brushes[a.key];
          if (!b) return true;
          const v = a.values[run];
          const y = v === null ? null : scales[i].toY(v);
          return y !== null && y >= Math.min(...b) && y <= Math.max(...b);
        }),
      ),
    [axes, scales, labels, brushes],
  );
  const activeCount = useMemo(() => active.filter(Boolean).length, [active]);

  const svgY = (e: React.MouseEvent<SVGElement>) => {
    const rect = (e.currentTarget.ownerSVGElement ?? (e.currentTarget as SVGSVGElement)).getBoundingClientRect();
    return e.clientY - rect.top;
  };

  return (
    <div className="parallel" data-testid="parallel-coords">
      {/* The lines in an SVG of their own, on a layer of its own (styles.css): a brush being dragged
          repaints the axes' SVG above them, not thousands of lines (70 ms a move for 10,000). */}
      <div className="pc-plot" style={{ width, height }}>
        <svg className="pc-lines" width={width} height={height} aria-hidden="true">
          <PcLines lines={lines} active={active} labels={labels} colors={colors} highlight={highlight} />
        </svg>
        <svg width={width} height={height} role="img" aria-label="parallel coordinates">
          {axes.map((a, i) => (
            <g key={a.key}>
              <line x1={x(i)} x2={x(i)} y1={top} y2={bottom} stroke="#333" />
              {scales[i].ticks.map((t) => (
                <text key={t.label + t.y} x={x(i) + 5} y={t.y + 4} fontSize={10} fill="#555">
                  {t.label}
                </text>
              ))}
              <text x={x(i)} y={top - 12} fontSize={11} textAnchor="middle" fill="#111">
                {a.key.length > 22 ? "…" + a.key.slice(-21) : a.key}
              </text>
              {brushes[a.key] ? (
                <rect x={x(i) - 8} width={16} y={Math.min(...brushes[a.key])} height={Math.abs(brushes[a.key][1] - brushes[a.key][0])} fill="rgba(59,91,219,0.25)" stroke="#3b5bdb" />
              ) : null}
              {dragRange?.key === a.key ? (
                <rect x={x(i) - 8} width={16} y={Math.min(dragRange.y0, dragRange.y1)} height={Math.abs(dragRange.y1 - dragRange.y0)} fill="rgba(59,91,219,0.15)" />
              ) : null}
              <rect
                className="brush-area"
                data-axis={a.key}
                x={x(i) - 12}
                width={24}
                y={top}
                height={bottom - top}
                fill="transparent"
                style={{ cursor: "crosshair" }}
                onMouseDown={(e) => {
                  drag.current = { key: a.key, y0: svgY(e) };
                  setDragRange({ key: a.key, y0: svgY(e), y1: svgY(e) });
                }}
                onMouseMove={(e) => drag.current?.key === a.key && setDragRange({ key: a.key, y0: drag.current.y0, y1: svgY(e) })}
                onMouseUp={(e) => {
                  const d = drag.current;
                  drag.current = null;
                  setDragRange(null);
                  if (!d) return;
                  const y1 = svgY(e);
                  setBrushes((b) => {
                    const next = { ...b };
                    if (Math.abs(y1 - d.y0) < 3) delete next[a.key]; // a click clears the axis' brush
                    else next[a.key] = [d.y0, y1];
                    return next;
                  });
                }}
              />
            </g>
          ))}
        </svg>
      </div>
      <div className="pc-controls">
        {axes.map((a, i) =>
          scales[i].canLog ? (
            <label key={a.key} className="check">
              <input
                type="checkbox"
                checked={logAxes.has(a.key)}
                onChange={() =>
                  setLogAxes((s) => {
                    const n = new Set(s);
                    if (n.has(a.key)) n.delete(a.key);
                    else n.add(a.key);
                    return n;
                  })
                }
              />
              log {a.key}
            </label>
          ) : null,
        )}
        {Object.keys(brushes).length ? (
          <button className="link" onClick={() => setBrushes({})}>
            clear brushes
          </button>
        ) : null}
        <span className="muted">
          {activeCount} of {labels.length} in the brushed ranges
        </span>
      </div>
    </div>
  );
}

/**
 * One polyline per run, in run order, the highlighted one last (on top); those outside the brushed
 * ranges grey. Memoised: a brush being dragged does not redraw them. (Drawing the grey ones first
 * moved thousands of elements a brush: 1.4-2.0 s a brush for 10,000 runs, against 0.9-1.3 s.)
 */
const PcLines = memo(function PcLines({
  lines,
  active,
  labels,
  colors,
  highlight,
}: {
  lines: string[];
  active: boolean[];
  labels: string[];
  colors: string[];
  highlight: number | null;
}) {
  const order = labels.map((_, i) => i).filter((i) => i !== highlight);
  if (highlight !== null && highlight >= 0) order.push(highlight);
  return (
    <>
      {order.map((run) => (
        <polyline
          key={run}
          points={lines[run]}
          fill="none"
          stroke={active[run] ? colors[run] : "#ccc"}
          strokeOpacity={active[run] ? 0.85 : 0.35}
          strokeWidth={run === highlight ? 3 : 1.2}
          data-active={active[run] ? "1" : "0"}
        >
          <title>{labels[run]}</title>
        </polyline>
      ))}
    </>
  );
});
