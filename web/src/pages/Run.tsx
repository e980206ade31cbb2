import { decode } from "@msgpack/msgpack";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { allows, useProjectRole } from "../api/access";
import { api, errorDetail, projectParams, unwrap } from "../api/client";
import { useFields } from "../api/hooks";
import { useRunLive } from "../api/live";
import { fetchSeriesExact } from "../api/series";
import { type Field, type FileRef, formatValue, numeric, type Value } from "../api/wire";
import { Chart, colorFor } from "../components/Chart";
import { ArtifactFiles, type ArtifactInfo } from "../components/Artifacts";
import { FileImage, FilePreview, fileName } from "../components/FilePreview";
import { RunSeriesChart } from "../components/SeriesChart";
import { StateBadge, useNow } from "../components/StateBadge";
import { Tags } from "../components/Tags";
import { getRange, setParam } from "../lib/url";

const TABS = ["fields", "charts", "media", "files", "data", "source", "logs", "monitoring"] as const;
type Tab = (typeof TABS)[number];

function byPath(fields: Field[]): Map<string, Field> {
  return new Map(fields.map((f) => [f.path, f]));
}

function namespaceOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "(root)" : path.slice(0, i);
}

function filesOf(field: Field): { key: string; file: FileRef }[] {
  const v = field.value;
  if (v && typeof v === "object" && v.kind === "file") return [{ key: field.path, file: v.file }];
  if (v && typeof v === "object" && v.kind === "object") {
    return Object.entries(v.entries).flatMap(([name, inner]) =>
      inner && typeof inner === "object" && inner.kind === "file" ? [{ key: `${field.path}/${name}`, file: inner.file }] : [],
    );
  }
  return [];
}

interface TreeNode {
  name: string;
  field?: Field;
  children: Map<string, TreeNode>;
}

function buildTree(fields: Field[]): TreeNode {
  const root: TreeNode = { name: "", children: new Map() };
  for (const f of fields) {
    let node = root;
    for (const part of f.path.split("/")) {
      if (!node.children.has(part)) node.children.set(part, { name: part, children: new Map() });
      node = node.children.get(part)!;
    }
    node.field = f;
  }
  return root;
}

function TreeView({ node, depth }: { node: TreeNode; depth: number }) {
  const children = [...node.children.values()].sort((a, b) => Number(!!a.field) - Number(!!b.field) || a.name.localeCompare(b.name));
  return (
    <ul className="tree">
      {children.map((child) =>
        child.field && child.children.size === 0 ? (
          <li key={child.name} className="leaf">
            <span className="path">{child.name}</span>
            <span className="type">{child.field.type}</span>
            <span className="value">{formatValue(child.field.value)}</span>
          </li>
        ) : (
          <li key={child.name}>
            <details open={depth < 1}>
              <summary>{child.name}/</summary>
              <TreeView node={child} depth={depth + 1} />
            </details>
          </li>
        ),
      )}
    </ul>
  );
}

function ImageSeries({ project, runId, path }: { project: string; runId: string; path: string }) {
  const series = useQuery({
    queryKey: ["series-list", project, runId, path],
    queryFn: async () => {
      const { data, response } = await api.GET("/api/v1/projects/{workspace}/{project}/runs/{run_id}/series", {
        params: { path: { ...projectParams(project), run_id: runId }, query: { path } },
        parseAs: "arrayBuffer",
      });
      if (!response.ok) throw new Error(`${path}: ${response.status}`);
      const body = decode(new Uint8Array(data as unknown as ArrayBuffer)) as { steps: Uint8Array; values: FileRef[] };
      const copy = new Uint8Array(body.steps.byteLength);
      copy.set(body.steps);
      return { steps: Array.from(new Float64Array(copy.buffer)), files: body.values };
    },
  });
  const [index, setIndex] = useState<number | null>(null);
  if (!series.data) return <span className="loading">loading {path}…</span>;
  const n = series.data.files.length;
  const i = Math.min(index ?? n - 1, n - 1);
  if (n === 0) return null;
  return (
    <div className="gallery" data-testid="image-series">
      <div className="gallery-head">
        <strong>{path}</strong> step {series.data.steps[i]}
        <input type="range" min={0} max={n - 1} value={i} aria-label={`${path} step`} onChange={(e) => setIndex(Number(e.target.value))} />
        <span className="muted">
          {i + 1} / {n}
        </span>
      </div>
      <FileImage project={project} file={series.data.files[i]} alt={`${path} at step ${series.data.steps[i]}`} />
    </div>
  );
}

// The captured output streams, stdout first: what a script printed is what its page opens on.
const OUTPUT_STREAM = /(stdout|stderr|traceback)$/;
const STREAM_ORDER = ["stdout", "stderr", "traceback"];

function streamRank(path: string): number {
  return STREAM_ORDER.indexOf(path.match(OUTPUT_STREAM)?.[1] ?? "");
}

function Logs({ project, runId, paths }: { project: string; runId: string; paths: string[] }) {
  const [stream, setStream] = useState(paths[0] ?? "");
  const [search, setSearch] = useState("");
  const lines = useQuery({
    queryKey: ["logs", project, runId, stream],
    enabled: !!stream,
    queryFn: async () => {
      const { data, response } = await api.GET("/api/v1/projects/{workspace}/{project}/runs/{run_id}/series", {
        params: { path: { ...projectParams(project), run_id: runId }, query: { path: stream } },
        parseAs: "arrayBuffer",
      });
      if (!response.ok) throw new Error(`${stream}: ${response.status}`);
      return (decode(new Uint8Array(data as unknown as ArrayBuffer)) as { values: string[] }).values;
    },
  });
  if (!paths.length) return <p className="muted">This run captured no output.</p>;
  const needle = search.toLowerCase();
  const shown = (lines.data ?? []).map((l, i) => [i + 1, l] as const).filter(([, l]) => !needle || l.toLowerCase().includes(needle));
  return (
    <div className="logs">
      <div className="toolbar">
        <select value={stream} onChange={(e) => setStream(e.target.value)} aria-label="output stream">
          {paths.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
        <input placeholder="Search output…" aria-label="search output" value={search} onChange={(e) => setSearch(e.target.value)} />
        <span className="muted">
          {shown.length} of {lines.data?.length ?? 0} lines
        </span>
      </div>
      <pre className="log-lines" data-testid="log-lines">
        {shown.slice(-5000).map(([n, l]) => (
          <div key={n}>
            <span className="lineno">{n}</span>
            {needle ? highlight(l, needle) : l}
          </div>
        ))}
      </pre>
    </div>
  );
}

function highlight(line: string, needle: string) {
  const i = line.toLowerCase().indexOf(needle);
  if (i < 0) return line;
  return (
    <>
      {line.slice(0, i)}
      <mark>{line.slice(i, i + needle.length)}</mark>
      {line.slice(i + needle.length)}
    </>
  );
}

function Monitoring({ project, runId, paths }: { project: string; runId: string; paths: string[] }) {
  // Monitoring readings are few (one every few seconds): read exactly, drawn against wall time.
  const views = useQuery({
    queryKey: ["monitoring", project, runId, paths],
    queryFn: () => Promise.all(paths.map((p) => fetchSeriesExact(project, runId, p))),
    refetchInterval: 15_000,
  });
  if (!paths.length) return <p className="muted">No hardware readings in this run.</p>;
  if (!views.data) return <span className="loading">loading…</span>;
  return (
    <div className="charts">
      {paths.map((p, i) => (
        <Chart
          key={p}
          title={p}
          xTime
          series={[{ label: p, color: colorFor(i), x: views.data[i].t ?? views.data[i].x, y: views.data[i].y }]}
          height={180}
        />
      ))}
    </div>
  );
}

function EditableText({
  value,
  label,
  multiline,
  readOnly,
  onSave,
}: {
  value: string;
  label: string;
  multiline?: boolean;
  readOnly?: boolean;
  onSave: (v: string) => void;
}) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const commit = () => {
    if (draft !== value) onSave(draft);
  };
  return multiline ? (
    <textarea
      aria-label={label}
      className="description"
      value={draft}
      readOnly={readOnly}
      placeholder={readOnly ? "" : "Add a description"}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={commit}
    />
  ) : (
    <input
      aria-label={label}
      className="title-input"
      value={draft}
      readOnly={readOnly}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={commit}
      onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
    />
  );
}

export function RunPage() {
  const { workspace, project: name, runId = "" } = useParams();
  const project = `${workspace}/${name}`;
  const [params, setParams] = useSearchParams();
  const tab = (TABS.includes(params.get("tab") as Tab) ? params.get("tab") : "charts") as Tab;
  const zoom = getRange(params, "zoom");
  const fieldsQuery = useFields(project, runId);
  const fields = useMemo(() => fieldsQuery.data ?? [], [fieldsQuery.data]);
  const map = useMemo(() => byPath(fields), [fields]);
  const client = useQueryClient();
  const now = useNow();
  const canEdit = allows(useProjectRole(project), "contributor"); // viewers read only

  const floatSeries = fields.filter((f) => f.type === "floatSeries" && !f.path.startsWith("monitoring/")).map((f) => f.path);
  const monitoringSeries = fields.filter((f) => f.type === "floatSeries" && f.path.startsWith("monitoring/")).map((f) => f.path);
  const logPaths = fields
    .filter((f) => f.type === "stringSeries" && OUTPUT_STREAM.test(f.path))
    .map((f) => f.path)
    .sort((a, b) => streamRank(a) - streamRank(b) || a.localeCompare(b));
  const imageSeries = fields.filter((f) => f.type === "fileSeries").map((f) => f.path);
  const fileFields = fields.filter((f) => (f.type === "file" || f.type === "fileSet") && !f.path.startsWith("source_code/"));
  const sourceFields = fields.filter((f) => (f.type === "file" || f.type === "fileSet") && f.path.startsWith("source_code/"));
  const artifactFields = fields.filter((f) => f.type === "artifact");
  const images = fileFields.flatMap(filesOf).filter(({ file }) => (file.mime_type || "").startsWith("image/"));

  const modified = numeric(map.get("sys/modification_time")?.value ?? null);
  const state = String(map.get("sys/state")?.value ?? "");
  // Live charts only while the run can still change; the overview must be there first (points append to it).
  const loaded = floatSeries.filter((p) => client.getQueryData(["series", project, runId, p, null]) !== undefined);
  useRunLive(project, runId, tab === "charts" && !zoom ? loaded : [], state === "running" || state === "" ? modified : null);

  const update = useMutation({
    mutationFn: (body: { name?: string; description?: string }) =>
      unwrap(api.PATCH("/api/v1/projects/{workspace}/{project}/runs/{run_id}", { params: { path: { ...projectParams(project), run_id: runId } }, body })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["fields", project, runId] }),
  });
  const tags = useMutation({
    mutationFn: (edit: { add: string[]; remove: string[] }) =>
      unwrap(api.POST("/api/v1/projects/{workspace}/{project}/runs/tags", { params: { path: projectParams(project) }, body: { run_ids: [runId], ...edit } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["fields", project, runId] }),
  });

  if (fieldsQuery.isError) return <p className="error">{errorDetail(fieldsQuery.error).detail}</p>;
  if (!fieldsQuery.data) return <p className="loading">Loading {runId}…</p>;

  const tagList = (() => {
    const v = map.get("sys/tags")?.value as Value;
    return v && typeof v === "object" && v.kind === "set" ? v.items.map(String) : [];
  })();
  const grouped = new Map<string, string[]>();
  for (const p of floatSeries) grouped.set(namespaceOf(p), [...(grouped.get(namespaceOf(p)) ?? []), p]);
  const setZoom = (z: [number, number] | null) => setParams((p) => setParam(p, "zoom", z ? z.map(String) : null), { replace: true });
  const isSweep = fields.some((f) => f.path.startsWith("sweep/objectives"));

  return (
    <section className="page run-page">
      <div className="run-head">
        <span className="run-id" data-testid="run-id">{runId}</span>
        <EditableText value={String(map.get("sys/name")?.value ?? "")} label="run name" readOnly={!canEdit} onSave={(v) => update.mutate({ name: v })} />
        <StateBadge state={state} started={numeric(map.get("sys/creation_time")?.value ?? null)} now={now} failed={map.get("sys/failed")?.value === true} />
        {canEdit ? (
          <Tags tags={tagList} onAdd={(t) => tags.mutate({ add: [t], remove: [] })} onRemove={(t) => tags.mutate({ add: [], remove: [t] })} />
        ) : (
          <Tags tags={tagList} />
        )}
        {isSweep ? (
          <Link to={`/p/${workspace}/${name}/sweeps/${runId}`} className="button-link">
            Sweep
          </Link>
        ) : null}
      </div>
      <EditableText
        multiline
        value={String(map.get("sys/description")?.value ?? "")}
        label="run description"
        readOnly={!canEdit}
        onSave={(v) => update.mutate({ description: v })}
      />
      {update.isError || tags.isError ? <p className="error">{errorDetail(update.error ?? tags.error).detail}</p> : null}
      <nav className="tabs">
        {TABS.map((t) => (
          <button key={t} className={t === tab ? "active" : ""} onClick={() => setParams((p) => setParam(p, "tab", t))}>
            {t}
          </button>
        ))}
      </nav>
      {tab === "fields" ? (
        <div data-testid="field-tree">
          <TreeView node={buildTree(fields)} depth={0} />
        </div>
      ) : null}
      {tab === "charts" ? (
        floatSeries.length === 0 ? (
          <p className="muted">No float series in this run.</p>
        ) : (
          [...grouped.entries()].map(([ns, paths]) => (
            <div key={ns} className="chart-group">
              <h3>{ns}</h3>
              <div className="charts">
                {paths.map((p) => (
                  <RunSeriesChart key={p} project={project} runId={runId} path={p} zoom={zoom} onZoom={setZoom} />
                ))}
              </div>
            </div>
          ))
        )
      ) : null}
      {tab === "media" ? (
        <div className="media">
          {images.length === 0 && imageSeries.length === 0 ? <p className="muted">No images in this run.</p> : null}
          {images.map(({ key, file }) => (
            <figure key={key} className="image-card">
              <FileImage project={project} file={file} />
              <figcaption>{key}</figcaption>
            </figure>
          ))}
          {imageSeries.map((p) => (
            <ImageSeries key={p} project={project} runId={runId} path={p} />
          ))}
        </div>
      ) : null}
      {tab === "files" ? <FilesTab project={project} files={fileFields.flatMap(filesOf)} /> : null}
      {tab === "data" ? (
        <div className="artifacts">
          {artifactFields.length === 0 ? <p className="muted">This run tracks no files (run["data"].track_files(...)).</p> : null}
          {artifactFields.map((f) =>
            f.value && typeof f.value === "object" && f.value.kind === "artifact" ? (
              <ArtifactFiles key={f.path} project={project} path={f.path} artifact={f.value.artifact as unknown as ArtifactInfo} />
            ) : null,
          )}
        </div>
      ) : null}
      {tab === "source" ? <FilesTab project={project} files={sourceFields.flatMap(filesOf)} git={map} /> : null}
      {tab === "logs" ? <Logs project={project} runId={runId} paths={logPaths} /> : null}
      {tab === "monitoring" ? <Monitoring project={project} runId={runId} paths={monitoringSeries} /> : null}
    </section>
  );
}

function FilesTab({ project, files, git }: { project: string; files: { key: string; file: FileRef }[]; git?: Map<string, Field> }) {
  const [chosen, setChosen] = useState<string | null>(null);
  const current = files.find((f) => f.key === chosen) ?? files[0];
  const gitFields = git ? [...git.values()].filter((f) => f.path.startsWith("source_code/git/") && f.type !== "file") : [];
  return (
    <div className="files">
      {gitFields.length ? (
        <table className="plain git">
          <tbody>
            {gitFields.map((f) => (
              <tr key={f.path}>
                <th>{f.path.replace("source_code/git/", "")}</th>
                <td>{formatValue(f.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {files.length === 0 ? <p className="muted">No files.</p> : null}
      <div className="file-layout">
        <ul className="file-list">
          {files.map(({ key, file }) => (
            <li key={key}>
              <button className={`link ${current?.key === key ? "active" : ""}`} onClick={() => setChosen(key)}>
                {key.includes("/") ? key : fileName(file)}
              </button>
            </li>
          ))}
        </ul>
        <div className="file-main">{current ? <FilePreview key={current.key} project={project} file={current.file} /> : null}</div>
      </div>
    </div>
  );
}

