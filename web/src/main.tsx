// The entry, small so that it runs as soon as it arrives: it starts the runs table's first page
// (when that is the page opened) and loads the app and the page's code side by side, rather than
// the app first, then the page's code, then the page's data.
import { readFirstPageAhead } from "./api/runsPage";
import "./styles.css";

if (readFirstPageAhead(location.pathname, location.search)) {
  void import("./pages/Runs").catch(() => undefined); // a failed download shows on the page itself
}
void import("./boot");
