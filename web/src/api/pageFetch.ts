// Reads one page of the runs table (`/table`) and builds its columns (api/rowPage). The worker
// (pageDecoder.worker) runs it for the pages read in the background, so that neither the answer's
// body (a megabyte of JSON a 500-row page) nor its parsing touches the page's main thread; where no
// worker can start, the page runs it itself (api/pageDecoder). Kept free of the app's other modules:
// it is part of the worker's bundle.
import { pageData, type PageData } from "./rowPage";

/** A page read: its columns and the next page's cursor; or the server's refusal. */
export type PageAnswer = { page: PageData; next: string | null } | { status: number; error: unknown };

/**
 * Fetches `url` (same-origin, with the session's cookie) and builds its page. A refusal is the
 * status with the answer's body (`{"detail": ...}`); a failed request or an unreadable body, status
 * 0 with a detail that says what failed.
 */
export async function fetchPage(url: string): Promise<PageAnswer> {
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return { status: response.status, error: await response.json().catch(() => null) };
    const raw = (await response.json()) as { rows: Record<string, unknown>[]; next_cursor: string | null };
    return { page: pageData(raw.rows), next: raw.next_cursor };
  } catch (error) {
    return { status: 0, error: { detail: `runs page: ${error instanceof Error ? error.message : String(error)}` } };
  }
}
