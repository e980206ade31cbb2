import { useMemo, useState } from "react";

/** A searchable list of the project's field paths; picking one adds it as a column. */
export function ColumnPicker({
  paths,
  shown,
  onToggle,
  onClose,
}: {
  paths: { path: string; type: string; runs?: number }[];
  shown: string[];
  onToggle: (path: string) => void;
  onClose: () => void;
}) {
  const [filter, setFilter] = useState("");
  const visible = useMemo(() => {
    const f = filter.toLowerCase();
    return paths.filter((p) => p.path.toLowerCase().includes(f)).slice(0, 500);
  }, [paths, filter]);
  return (
    <div className="popover column-picker" data-testid="column-picker">
      <div className="popover-head">
        <input autoFocus placeholder="Search fields…" aria-label="search fields" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <button className="link" onClick={onClose}>
          close
        </button>
      </div>
      <ul>
        {visible.map((p) => (
          <li key={p.path}>
            <label>
              <input type="checkbox" checked={shown.includes(p.path)} onChange={() => onToggle(p.path)} />
              <span className="path">{p.path}</span> <span className="type">{p.type}</span>
              {p.runs !== undefined ? <span className="muted small"> · {p.runs} runs</span> : null}
            </label>
          </li>
        ))}
        {visible.length === 0 ? <li className="muted">no field matches</li> : null}
      </ul>
    </div>
  );
}
