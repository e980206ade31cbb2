// Tracked files (issue 10): an artifact field's file list on the run page, and the difference of two
// runs' tracked files on the compare page. The file list is a gzip JSON blob
// (despina/client/artifact_manifest.py); the difference comes from the server (`diff_data`).
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { api, projectParams, unwrap } from "../api/client";
import { blobUrl } from "../api/hooks";
import { formatBytes } from "../api/wire";

export interface ArtifactInfo {
  hash: string;
  file_count: number;
  total_size: number;
  /** sha256 of the file-list blob. */
  manifest: string;
}

export interface TrackedFile {
  path: string;
  size: number;
  hash: string;
  hash_type: string;
  mtime: number | null;
  location: string;
}

export interface Manifest {
  hash: string;
  notes: string[];
  files: TrackedFile[];
}

/** The file-list document (format 1: files as [path, size, hash, hash_type, mtime, location] rows). */
export function parseManifest(document: unknown): Manifest {
  const doc = document as { format?: unknown; hash?: unknown; notes?: unknown; files?: unknown };
  if (doc.format !== 1) throw new Error(`tracked-files list format ${String(doc.format)} is not one this UI reads (1)`);
  const rows = (doc.files ?? []) as unknown[][];
  return {
    hash: String(doc.hash ?? ""),
    notes: ((doc.notes ?? []) as unknown[]).map(String),
    files: rows.map(([path, size, hash, hashType, mtime, location]) => ({
      path: String(path),
      size: Number(size),
      hash: String(hash),
      hash_type: String(hashType),
      mtime: mtime === null || mtime === undefined ? null : Number(mtime),
      location: String(location),
    })),
  };
}

async function fetchManifest(project: string, sha256: string): Promise<Manifest> {
  const response = await fetch(blobUrl(project, sha256), { credentials: "same-origin" });
  if (!response.ok || !response.body) throw new Error(`the file list ${sha256.slice(0, 12)} could not be read (${response.status})`);
  // The blob is gzip-compressed JSON; the browser inflates it as a stream.
  const text = await new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).text();
  return parseManifest(JSON.parse(text));
}

/** How many file rows a table draws before asking to narrow the filter (lists can hold 100,000 files). */
const SHOWN_FILES = 1000;

function FileTable({ files, testId }: { files: TrackedFile[]; testId: string }) {
  return (
    <table className="plain artifact-files" data-testid={testId}>
      <thead>
        <tr>
          <th>path</th>
          <th className="num">size</th>
          <th>hash</th>
          <th>location</th>
        </tr>
      </thead>
      <tbody>
        {files.map((f) => (
          <tr key={f.path}>
            <td className="path">{f.path}</td>
            <td className="num">{formatBytes(f.size)}</td>
            <td className="hash" title={`${f.hash_type}: ${f.hash}`}>
              {f.hash.slice(0, 16)}
              {f.hash_type !== "sha256" ? <span className="muted"> ({f.hash_type})</span> : null}
            </td>
            <td className="location">{f.location}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One artifact field of a run: set hash, totals and its file list (filterable). */
export function ArtifactFiles({ project, path, artifact }: { project: string; path: string; artifact: ArtifactInfo }) {
  const [filter, setFilter] = useState("");
  const manifest = useQuery({
    queryKey: ["manifest", project, artifact.manifest],
    queryFn: () => fetchManifest(project, artifact.manifest),
    staleTime: Infinity,
  });
  const matching = useMemo(() => {
    const f = filter.toLowerCase();
    return (manifest.data?.files ?? []).filter((file) => file.path.toLowerCase().includes(f));
  }, [manifest.data, filter]);
  return (
    <div className="artifact" data-testid={`artifact-${path}`}>
      <h3>{path}</h3>
      <p>
        set hash <code data-testid="artifact-hash">{artifact.hash}</code> · {artifact.file_count.toLocaleString()} files ·{" "}
        {formatBytes(artifact.total_size)}
      </p>
      {manifest.isError ? <p className="error">{String(manifest.error)}</p> : null}
      {manifest.isPending ? <p className="loading">Loading the file list…</p> : null}
      {manifest.data ? (
        <>
          {manifest.data.notes.map((n) => (
            <p key={n} className="muted">
              {n}
            </p>
          ))}
          {manifest.data.files.length > 20 ? (
            <input placeholder="Filter files…" aria-label={`filter files of ${path}`} value={filter} onChange={(e) => setFilter(e.target.value)} />
          ) : null}
          <FileTable files={matching.slice(0, SHOWN_FILES)} testId="artifact-files" />
          {matching.length > SHOWN_FILES ? (
            <p className="muted">
              {SHOWN_FILES.toLocaleString()} of {matching.length.toLocaleString()} files shown; filter to narrow.
            </p>
          ) : null}
        </>
      ) : null}
    </div>
  );
}

export interface FieldDiff {
  path: string;
  hash_a: string | null;
  hash_b: string | null;
  same: boolean;
  added: TrackedFile[];
  removed: TrackedFile[];
  changed: { a: TrackedFile; b: TrackedFile }[];
  unchanged: number;
}

/** Files added, removed and changed between run A's and run B's tracked files, per artifact field. */
export function DataDiff({ project, runA, runB }: { project: string; runA: string; runB: string }) {
  const diff = useQuery({
    queryKey: ["data-diff", project, runA, runB],
    queryFn: async () =>
      (await unwrap(
        api.GET("/api/v1/projects/{workspace}/{project}/data-diff", {
          params: { path: projectParams(project), query: { run_a: runA, run_b: runB } },
        }),
      )) as { fields: FieldDiff[] },
    enabled: runA !== runB,
  });
  if (runA === runB) return <p className="muted">Choose two different runs.</p>;
  if (diff.isError) return <p className="error">{String(diff.error)}</p>;
  if (!diff.data) return <p className="loading">Comparing tracked files…</p>;
  if (!diff.data.fields.length) return <p className="muted">Neither run tracks files.</p>;
  return (
    <div data-testid="data-diff">
      {diff.data.fields.map((d) => (
        <div key={d.path} className="artifact">
          <h3>
            {d.path}{" "}
            {d.same ? <span className="badge">same data</span> : <span className="badge differs">different data</span>}
          </h3>
          <p className="muted">
            {runA}: <code>{d.hash_a ? d.hash_a.slice(0, 16) : "not tracked"}</code> · {runB}: <code>{d.hash_b ? d.hash_b.slice(0, 16) : "not tracked"}</code> ·{" "}
            {d.added.length} added, {d.removed.length} removed, {d.changed.length} changed, {d.unchanged} unchanged
          </p>
          {d.added.length ? (
            <>
              <h4>Added in {runB}</h4>
              <FileTable files={d.added} testId="diff-added" />
            </>
          ) : null}
          {d.removed.length ? (
            <>
              <h4>Removed from {runA}</h4>
              <FileTable files={d.removed} testId="diff-removed" />
            </>
          ) : null}
          {d.changed.length ? (
            <>
              <h4>Changed</h4>
              <table className="plain artifact-files" data-testid="diff-changed">
                <thead>
                  <tr>
                    <th>path</th>
                    <th className="num">size in {runA}</th>
                    <th className="num">size in {runB}</th>
                    <th>hash in {runA}</th>
                    <th>hash in {runB}</th>
                  </tr>
                </thead>
                <tbody>
                  {d.changed.map(({ a, b }) => (
                    <tr key={a.path}>
                      <td className="path">{a.path}</td>
                      <td className="num">{formatBytes(a.size)}</td>
                      <td className="num">{formatBytes(b.size)}</td>
                      <td className="hash">{a.hash.slice(0, 16)}</td>
                      <td className="hash">{b.hash.slice(0, 16)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          ) : null}
        </div>
      ))}
    </div>
  );
}
