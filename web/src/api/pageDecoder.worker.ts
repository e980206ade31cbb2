// Builds runs-table pages off the page's main thread: parses a `/table` answer and hands back its
// columns, their typed arrays transferred rather than copied (api/rowPage, api/pageDecoder).
import { pageBuffers, pageData } from "./rowPage";

interface WorkerScope {
  onmessage: ((event: MessageEvent<{ id: number; body: ArrayBuffer }>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

scope.onmessage = (event) => {
  const { id, body } = event.data;
  try {
    const raw = JSON.parse(new TextDecoder().decode(body)) as { rows: Record<string, unknown>[]; next_cursor: string | null };
    const page = pageData(raw.rows);
    scope.postMessage({ id, page, next: raw.next_cursor }, pageBuffers(page));
  } catch (error) {
    scope.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};
