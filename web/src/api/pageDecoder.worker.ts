// Reads runs-table pages off the page's main thread: fetches and parses a `/table` answer and hands
// back its columns, their typed arrays transferred rather than copied (api/pageFetch, api/rowPage).
import { fetchPage } from "./pageFetch";
import { pageBuffers } from "./rowPage";

interface WorkerScope {
  onmessage: ((event: MessageEvent<{ id: number; url: string }>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

scope.onmessage = async (event) => {
  const { id, url } = event.data;
  const answer = await fetchPage(url);
  scope.postMessage({ id, ...answer }, "page" in answer ? pageBuffers(answer.page) : []);
};
