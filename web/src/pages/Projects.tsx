import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, projectParams, unwrap } from "../api/client";
import { timeAgo } from "../lib/format";

function ProjectRow({ name }: { name: string }) {
  // The change feed from cursor 0 lists every run of the project once, and its cursor is the newest
  // modification: the run count and last activity in one small request.
  const stats = useQuery({
    queryKey: ["project-stats", name],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/projects/{workspace}/{project}/changes", {
          params: { path: projectParams(name), query: { since: 0, wait: 0 } },
        }),
      ) as Promise<{ runs: string[]; cursor: number }>,
  });
  const [workspace, project] = name.split("/");
  return (
    <tr>
      <td>
        <Link to={`/p/${workspace}/${project}`}>{name}</Link>
      </td>
      <td className="num" data-testid="run-count">{stats.data ? stats.data.runs.length : "…"}</td>
      <td>{stats.data ? (stats.data.cursor > 0 ? timeAgo(stats.data.cursor) : "never") : "…"}</td>
    </tr>
  );
}

export function ProjectsPage() {
  const projects = useQuery({
    queryKey: ["projects"],
    queryFn: () => unwrap(api.GET("/api/v1/projects")),
  });
  return (
    <section className="page">
      <h1>Projects</h1>
      {projects.isError ? <p className="error">{String(projects.error)}</p> : null}
      {projects.data && projects.data.length === 0 ? (
        <p>
          No projects yet. Log a run with <code>despina.init_run(project="team/name")</code>.
        </p>
      ) : null}
      <table className="plain">
        <thead>
          <tr>
            <th>Project</th>
            <th className="num">Runs</th>
            <th>Last activity</th>
          </tr>
        </thead>
        <tbody>
          {(projects.data ?? []).map((p) => (
            <ProjectRow key={p.name} name={p.name} />
          ))}
        </tbody>
      </table>
    </section>
  );
}
