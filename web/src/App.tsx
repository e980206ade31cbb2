import { useQueryClient } from "@tanstack/react-query";
import { Link, Navigate, Route, Routes, useLocation, useParams } from "react-router-dom";
import { type Me, useMe } from "./api/access";
import { api, setCsrfToken } from "./api/client";

import { lazyPage } from "./lib/lazyPage";

// One chunk per page: the runs table does not download the charts (uPlot), the syntax highlighter
// or msgpack, and a page's code arrives only when someone opens it.
const ComparePage = lazyPage(() => import("./pages/Compare").then((m) => m.ComparePage));
const LoginPage = lazyPage(() => import("./pages/Login").then((m) => m.LoginPage));
const ProjectsPage = lazyPage(() => import("./pages/Projects").then((m) => m.ProjectsPage));
const RunPage = lazyPage(() => import("./pages/Run").then((m) => m.RunPage));
const RunsPage = lazyPage(() => import("./pages/Runs").then((m) => m.RunsPage));
const SweepPage = lazyPage(() => import("./pages/Sweep").then((m) => m.SweepPage));

/** The page a path shows, so its chunk downloads while the app first asks who the user is. */
export function preloadPageFor(pathname: string): void {
  const page = pathname === "/login"
    ? LoginPage
    : /^\/p\/[^/]+\/[^/]+\/?$/.test(pathname)
      ? RunsPage
      : /\/runs\//.test(pathname)
        ? RunPage
        : /\/compare\/?$/.test(pathname)
          ? ComparePage
          : /\/sweeps\//.test(pathname)
            ? SweepPage
            : pathname === "/"
              ? ProjectsPage
              : null;
  void page?.preload().catch(() => undefined); // a failed download shows on the page itself
}

function Header({ me }: { me: Me | null }) {
  const { workspace, project } = useParams();
  const client = useQueryClient();
  const logout = async () => {
    await api.POST("/api/v1/auth/logout");
    setCsrfToken(null);
    client.setQueryData(["me"], null);
  };
  return (
    <header className="topbar">
      <Link to="/" className="brand">
        <img src="/favicon.svg" alt="" width={20} height={20} /> Despina
      </Link>
      {workspace && project ? (
        <Link to={`/p/${workspace}/${project}`} className="crumb">
          {workspace}/{project}
        </Link>
      ) : null}
      <span className="spacer" />
      {me ? (
        <span className="who">
          {me.username}
          {me.via === "session" ? (
            <button className="link" onClick={logout}>
              sign out
            </button>
          ) : null}
        </span>
      ) : null}
    </header>
  );
}

function Shell({ me, children }: { me: Me | null; children: React.ReactNode }) {
  return (
    <>
      <Header me={me} />
      <main>{children}</main>
    </>
  );
}

export function App() {
  const me = useMe();
  const location = useLocation();
  // While /auth/me is on its way the page already renders and asks for its data: a server that
  // wants a login answers those requests 401, and the redirect below (or unwrap's) takes over.
  if (me.isError) return <p className="error">The server cannot be reached: {String(me.error)}</p>;
  if (me.data === null && location.pathname !== "/login") {
    return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  }
  const user = me.data ?? null;
  const wrap = (el: React.ReactNode) => <Shell me={user}>{el}</Shell>;
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/" element={wrap(<ProjectsPage />)} />
      <Route path="/p/:workspace/:project" element={wrap(<RunsPage />)} />
      <Route path="/p/:workspace/:project/runs/:runId" element={wrap(<RunPage />)} />
      <Route path="/p/:workspace/:project/compare" element={wrap(<ComparePage />)} />
      <Route path="/p/:workspace/:project/sweeps/:runId" element={wrap(<SweepPage />)} />
      <Route path="*" element={wrap(<p className="error">No page here. <Link to="/">Projects</Link></p>)} />
    </Routes>
  );
}
