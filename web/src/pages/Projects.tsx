import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { timeAgo } from "../lib/format";

function ProjectRow({ name, runCount, lastActivity }: { name: string; runCount: number; lastActivity: number | null }) {
  const [workspace, project] = name.split("/");
  return (
    <tr>
      <td>
        <Link to={`/p/${workspace}/${project}`}>{name}</Link>
      </td>
      <td className="num" data-testid="run-count">
        {runCount}
      </td>
      <td>{lastActivity ? timeAgo(lastActivity) : "never"}</td>
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
            <ProjectRow key={p.name} name={p.name} runCount={p.run_count ?? 0} lastActivity={p.last_activity ?? null} />
          ))}
        </tbody>
      </table>
    </section>
  );
}
