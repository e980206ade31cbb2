// Reads the runs table's background pages in a worker (pageDecoder.worker): the answer's body, its
// parsing and the parsed JSON stay off the main thread and out of its heap (api/rowPage). Where no
// worker can be started, a page is read here.
import { failure } from "./client";
import { fetchPage, type PageAnswer } from "./pageFetch";
import type { PageData } from "./rowPage";

export interface DecodedPage {
  page: PageData;
  next: string | null;
}

let worker: Worker | null | undefined;
let lastId = 0;
const waiting = new Map<number, (answer: PageAnswer) => void>();

function failWaiting(reason: string): void {
  for (const settle of waiting.values()) settle({ status: 0, error: { detail: reason } });
  waiting.clear();
}

function reader(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    const started = new Worker(new URL("./pageDecoder.worker.ts", import.meta.url), { type: "module" });
    started.onmessage = (event: MessageEvent<PageAnswer & { id: number }>) => {
      const { id, ...answer } = event.data;
      const settle = waiting.get(id);
      if (!settle) return;
      waiting.delete(id);
      settle(answer);
    };
    // A worker that cannot load (a policy, a missing file): pages from now on are read here, and
    // those it held fail (the table asks for them again).
    started.onerror = (event) => {
      event.preventDefault();
      worker = null;
      started.terminate();
      failWaiting(`the runs-page worker stopped: ${event.message || "it could not start"}`);
    };
    worker = started;
  } catch {
    worker = null;
  }
  return worker;
}

/**
 * The runs-table page at `url` (a `/table` request), read and decoded in the worker; a refusal or a
 * failure rejects with the ApiError that names it.
 */
export async function fetchPageOffThread(url: string): Promise<DecodedPage> {
  const target = reader();
  const answer = target
    ? await new Promise<PageAnswer>((resolve) => {
        const id = ++lastId;
        waiting.set(id, resolve);
        target.postMessage({ id, url: new URL(url, location.href).href });
      })
    : await fetchPage(url);
  if ("status" in answer) throw failure(answer.error, answer.status);
  return answer;
}
