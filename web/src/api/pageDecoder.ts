// Decodes the runs table's background pages in a worker (pageDecoder.worker), so that parsing them
// neither takes the main thread's time nor leaves their parsed JSON in its heap (api/rowPage).
// Where no worker can be started, a page is decoded here.
import { type PageData, pageData } from "./rowPage";

export interface DecodedPage {
  page: PageData;
  next: string | null;
}

type Answer = { id: number; page: PageData; next: string | null } | { id: number; error: string };

let worker: Worker | null | undefined;
let lastId = 0;
const waiting = new Map<number, { resolve: (page: DecodedPage) => void; reject: (error: Error) => void }>();

function failWaiting(reason: string): void {
  for (const { reject } of waiting.values()) reject(new Error(reason));
  waiting.clear();
}

function decoder(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    const started = new Worker(new URL("./pageDecoder.worker.ts", import.meta.url), { type: "module" });
    started.onmessage = (event: MessageEvent<Answer>) => {
      const answer = event.data;
      const promise = waiting.get(answer.id);
      if (!promise) return;
      waiting.delete(answer.id);
      if ("error" in answer) promise.reject(new Error(`runs page: ${answer.error}`));
      else promise.resolve({ page: answer.page, next: answer.next });
    };
    // A worker that cannot load (a policy, a missing file): pages from now on are decoded here, and
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

/** Decodes the body of a `/table` answer here, on the main thread. */
export function decodeHere(body: ArrayBuffer): DecodedPage {
  const raw = JSON.parse(new TextDecoder().decode(body)) as { rows: Record<string, unknown>[]; next_cursor: string | null };
  return { page: pageData(raw.rows), next: raw.next_cursor };
}

/** Decodes the body of a `/table` answer in the worker (the body is handed over: do not read it after). */
export function decodeOffThread(body: ArrayBuffer): Promise<DecodedPage> {
  const target = decoder();
  if (!target) return Promise.resolve(decodeHere(body));
  return new Promise((resolve, reject) => {
    const id = ++lastId;
    waiting.set(id, { resolve, reject });
    target.postMessage({ id, body }, [body]);
  });
}
