// The one HTTP client of the UI: openapi-fetch over the generated schema (api/schema.d.ts).
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";

let csrfToken: string | null = null;

/** Unsafe requests of a browser session must echo the session's CSRF token (server/auth). */
export function setCsrfToken(token: string | null | undefined): void {
  csrfToken = token ?? null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (csrfToken && request.method !== "GET" && request.method !== "HEAD") {
      request.headers.set("X-CSRF-Token", csrfToken);
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrf);

/** The `detail` of an error answer, as one line a person can read. */
export function errorDetail(error: unknown, status = 0): ApiError {
  if (error instanceof ApiError) return error;
  const detail = (error as { detail?: unknown } | undefined)?.detail;
  if (typeof detail === "string") return new ApiError(status, detail);
  if (Array.isArray(detail)) {
    return new ApiError(
      status,
      detail.map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join(".")}: ${d.msg}`).join("; "),
    );
  }
  return new ApiError(status, String(error ?? "request failed"));
}

/** Unwraps an openapi-fetch answer: its data, or an ApiError naming what the server said. */
export async function unwrap<T>(
  promise: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await promise;
  if (!response.ok) throw failure(error, response.status);
  return data as T;
}

/**
 * The ApiError of a refused request (`error`: the answer's body); a 401 also sends the browser to
 * the login page, to come back here.
 */
export function failure(error: unknown, status: number): ApiError {
  if (status === 401 && !location.pathname.startsWith("/login")) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  return errorDetail(error, status);
}

/** `team/cassava` -> the path parameters of every project route. */
export function projectParams(project: string): { workspace: string; project: string } {
  const [workspace, name] = project.split("/", 2);
  return { workspace, project: name };
}
