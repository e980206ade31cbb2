// The entry, small so that it runs as soon as it arrives: it starts the runs table's first page,
// or the compare page's charts (when that is the page opened), and loads the app and the page's
// code side by side, rather than the app first, then the page's code, then the page's data.
import { readCompareAhead } from "./api/bucketsAhead";
import { readFirstPageAhead } from "./api/runsPage";
import "./styles.css";

if (readFirstPageAhead(location.pathname, location.search)) {
  void import("./pages/Runs").catch(() => undefined); // a failed download shows on the page itself
} else if (readCompareAhead(location.pathname, location.search)) {
  void import("./pages/Compare").catch(() => undefined);
}
void import("./boot");
