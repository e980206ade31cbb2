import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { api, errorDetail, setCsrfToken } from "../api/client";

export function LoginPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { data, error: err, response } = await api.POST("/api/v1/auth/login", { body: { username, password } });
    setBusy(false);
    if (!response.ok || !data) {
      setError(errorDetail(err, response.status).detail);
      return;
    }
    setCsrfToken(data.csrf_token);
    client.setQueryData(["me"], data);
    const next = params.get("next");
    navigate(next && next.startsWith("/") && !next.startsWith("/login") ? next : "/", { replace: true });
  };

  return (
    <div className="login">
      <form onSubmit={submit} className="card">
        <h1>Sign in to Despina</h1>
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error ? <p className="error" role="alert">{error}</p> : null}
        <button type="submit" disabled={busy || !username}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
