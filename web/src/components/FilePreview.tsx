import { useQuery } from "@tanstack/react-query";
import hljs from "highlight.js/lib/common";
import { useEffect, useMemo, useState } from "react";
import { blobUrl, fetchBlob } from "../api/hooks";
import { type FileRef, formatBytes } from "../api/wire";
import { projectParams } from "../api/client";

const MAX_TEXT = 2 * 1024 * 1024;

export function fileName(f: FileRef): string {
  return f.extension && !f.name.endsWith(`.${f.extension}`) ? `${f.name}.${f.extension}` : f.name;
}

function kindOf(f: FileRef): "image" | "html" | "csv" | "json" | "text" | "other" {
  const ext = (f.extension || f.name.split(".").pop() || "").toLowerCase();
  const mime = (f.mime_type || "").toLowerCase();
  if (mime.startsWith("image/") || ["png", "jpg", "jpeg", "gif", "svg", "webp"].includes(ext)) return "image";
  if (mime === "text/html" || ext === "html" || ext === "htm") return "html";
  if (mime === "text/csv" || ext === "csv" || ext === "tsv") return "csv";
  if (mime === "application/json" || ext === "json") return "json";
  if (mime.startsWith("text/") || ["txt", "log", "md", "py", "yaml", "yml", "toml", "patch", "diff", "sh", "cfg", "ini", "js", "ts"].includes(ext))
    return "text";
  return "other";
}

function imageMime(f: FileRef): string {
  if (f.mime_type?.startsWith("image/")) return f.mime_type;
  const ext = (f.extension || "").toLowerCase();
  return ext === "jpg" || ext === "jpeg" ? "image/jpeg" : ext === "svg" ? "image/svg+xml" : `image/${ext || "png"}`;
}

/** An image file through an object URL typed by its mime type (the download route sends bytes only). */
export function FileImage({ project, file, alt }: { project: string; file: FileRef; alt?: string }) {
  const blob = useQuery({
    queryKey: ["blob", file.sha256, "image"],
    queryFn: () => fetchBlob(project, file.sha256, imageMime(file)),
    staleTime: Infinity,
  });
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!blob.data) return;
    const u = URL.createObjectURL(blob.data);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [blob.data]);
  if (blob.isError) return <p className="error">{String(blob.error)}</p>;
  return url ? <img className="preview-image" src={url} alt={alt ?? fileName(file)} /> : <span className="loading">loading image…</span>;
}

export function parseCsv(text: string, sep = ","): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

export function Code({ text, language }: { text: string; language?: string }) {
  const html = useMemo(() => {
    try {
      return language && hljs.getLanguage(language)
        ? hljs.highlight(text, { language }).value
        : hljs.highlightAuto(text.slice(0, 200_000)).value;
    } catch {
      return null;
    }
  }, [text, language]);
  // highlight.js escapes the text it is given; the markup it returns is only its spans.
  return html !== null ? (
    <pre className="code hljs">
      <code dangerouslySetInnerHTML={{ __html: html }} />
    </pre>
  ) : (
    <pre className="code">{text}</pre>
  );
}

function languageOf(f: FileRef): string | undefined {
  const ext = (f.extension || f.name.split(".").pop() || "").toLowerCase();
  const map: Record<string, string> = { py: "python", patch: "diff", diff: "diff", yml: "yaml", yaml: "yaml", json: "json", sh: "bash", js: "javascript", ts: "typescript", md: "markdown", toml: "ini", ini: "ini", cfg: "ini" };
  return map[ext];
}

function TextPreview({ project, file, kind }: { project: string; file: FileRef; kind: "csv" | "json" | "text" }) {
  const text = useQuery({
    queryKey: ["blob", file.sha256, "text"],
    queryFn: async () => (await fetchBlob(project, file.sha256, "text/plain")).text(),
    enabled: file.size <= MAX_TEXT,
    staleTime: Infinity,
  });
  if (file.size > MAX_TEXT) return <p className="muted">Too large to preview ({formatBytes(file.size)}); download it.</p>;
  if (text.isError) return <p className="error">{String(text.error)}</p>;
  if (text.data === undefined) return <span className="loading">loading…</span>;
  if (kind === "csv") {
    const sep = (file.extension || "").toLowerCase() === "tsv" ? "\t" : ",";
    const rows = parseCsv(text.data, sep).slice(0, 1001);
    return (
      <div className="csv-scroll">
        <table className="plain csv" data-testid="csv-table">
          <thead>
            <tr>{(rows[0] ?? []).map((h, i) => <th key={i}>{h}</th>)}</tr>
          </thead>
          <tbody>
            {rows.slice(1).map((r, i) => (
              <tr key={i}>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  if (kind === "json") {
    let pretty = text.data;
    try {
      pretty = JSON.stringify(JSON.parse(text.data), null, 2);
    } catch {
      /* shown as it is */
    }
    return <Code text={pretty} language="json" />;
  }
  return <Code text={text.data} language={languageOf(file)} />;
}

/** A file shown as what it is (image, sandboxed HTML, CSV table, JSON, text), with its download link. */
export function FilePreview({ project, file }: { project: string; file: FileRef }) {
  const kind = kindOf(file);
  const { workspace, project: name } = projectParams(project);
  return (
    <div className="file-preview" data-testid="file-preview">
      <div className="file-head">
        <strong>{fileName(file)}</strong> <span className="muted">{formatBytes(file.size)} · {file.mime_type || "unknown type"}</span>{" "}
        <a href={blobUrl(project, file.sha256)} download={fileName(file)}>
          download
        </a>
      </div>
      {kind === "image" ? <FileImage project={project} file={file} /> : null}
      {kind === "html" ? (
        // Its own origin-less sandbox: its scripts (a plotly figure) run, but reach neither us nor the API.
        <iframe
          className="html-preview"
          title={fileName(file)}
          sandbox="allow-scripts"
          src={`/preview/${workspace}/${name}/${file.sha256}`}
        />
      ) : null}
      {kind === "csv" || kind === "json" || kind === "text" ? <TextPreview project={project} file={file} kind={kind} /> : null}
      {kind === "other" ? <p className="muted">No preview for this type; download it.</p> : null}
    </div>
  );
}
