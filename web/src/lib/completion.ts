// Completion for the runs query bar: field paths and the language's keywords (despina.query).

export const KEYWORDS = ["and", "or", "not", "in", "contains", "exists", "matches", "true", "false"];
export const AGGREGATES = ["last(", "min(", "max(", "avg("];

const WORD = /[A-Za-z0-9_\-/.:]/;

/** The word under the caret: where it starts and ends, and the part typed so far. */
export function wordAt(text: string, caret: number): { start: number; end: number; prefix: string } {
  let start = caret;
  while (start > 0 && WORD.test(text[start - 1])) start--;
  let end = caret;
  while (end < text.length && WORD.test(text[end])) end++;
  return { start, end, prefix: text.slice(start, caret) };
}

/** True when the caret is inside a "string" (nothing to complete there). */
export function inString(text: string, caret: number): boolean {
  let quotes = 0;
  for (let i = 0; i < caret; i++) if (text[i] === '"' && text[i - 1] !== "\\") quotes++;
  return quotes % 2 === 1;
}

/** Suggestions for `prefix`: paths containing it (those starting with it first), then keywords. */
export function suggest(prefix: string, paths: string[], limit = 12): string[] {
  if (!prefix) return [];
  const p = prefix.toLowerCase();
  const starts: string[] = [];
  const contains: string[] = [];
  for (const path of paths) {
    const l = path.toLowerCase();
    if (l === p) continue;
    if (l.startsWith(p)) starts.push(path);
    else if (l.includes(p)) contains.push(path);
  }
  const words = [...KEYWORDS, ...AGGREGATES].filter((k) => k.startsWith(p) && k !== p);
  return [...starts.sort(), ...contains.sort(), ...words].slice(0, limit);
}

/** The text with the word under the caret replaced by `choice`, and where the caret goes. */
export function applyCompletion(text: string, caret: number, choice: string): { text: string; caret: number } {
  const { start, end } = wordAt(text, caret);
  const suffix = choice.endsWith("(") ? "" : " ";
  const next = text.slice(0, start) + choice + suffix + text.slice(end).replace(/^ /, "");
  return { text: next, caret: start + choice.length + suffix.length };
}

/** The 0-based position a query error names ("... at position 5"), if any. */
export function errorPosition(message: string): number | null {
  const m = /at position (\d+)/.exec(message);
  return m ? Math.max(0, Number(m[1]) - 1) : null;
}
