import { useEffect, useRef, useState } from "react";
import { applyCompletion, errorPosition, inString, suggest, wordAt } from "../lib/completion";

/**
 * The runs query in a search bar: completion of field paths and keywords as you type (Tab or Enter to
 * take one, arrows to choose), Enter to run it, and the server's syntax error shown under it with the
 * place it points at.
 */
export function QueryBar({
  value,
  paths,
  error,
  onSubmit,
  onFocus,
}: {
  value: string;
  paths: string[];
  error: string | null;
  onSubmit: (query: string) => void;
  /** The bar is about to be typed in: its completions need the paths. */
  onFocus?: () => void;
}) {
  const [text, setText] = useState(value);
  const [caret, setCaret] = useState(value.length);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => setText(value), [value]);

  const options = open && !inString(text, caret) ? suggest(wordAt(text, caret).prefix, paths) : [];
  const take = (choice: string) => {
    const next = applyCompletion(text, caret, choice);
    setText(next.text);
    setCaret(next.caret);
    setActive(0);
    requestAnimationFrame(() => input.current?.setSelectionRange(next.caret, next.caret));
  };
  const position = error ? errorPosition(error) : null;

  return (
    <div className="querybar">
      <input
        ref={input}
        aria-label="query"
        data-testid="query"
        className={error ? "invalid" : ""}
        spellCheck={false}
        placeholder='Filter runs, e.g. parameters/lr < 0.01 and sys/tags contains "best"'
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setCaret(e.target.selectionStart ?? e.target.value.length);
          setOpen(true);
          setActive(0);
        }}
        onKeyUp={(e) => setCaret((e.target as HTMLInputElement).selectionStart ?? 0)}
        onFocus={onFocus}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={(e) => {
          if (options.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
            e.preventDefault();
            setActive((a) => (a + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length);
          } else if (options.length && (e.key === "Tab" || (e.key === "Enter" && open))) {
            e.preventDefault();
            take(options[active]);
          } else if (e.key === "Enter") {
            setOpen(false);
            onSubmit(text.trim());
          } else if (e.key === "Escape") {
            setOpen(false);
          }
        }}
      />
      {options.length ? (
        <ul className="completions" role="listbox" data-testid="completions">
          {options.map((o, i) => (
            <li
              key={o}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault();
                take(o);
              }}
            >
              {o}
            </li>
          ))}
        </ul>
      ) : null}
      {error ? (
        <div className="query-error" role="alert" data-testid="query-error">
          {position !== null ? (
            <code className="query-echo">
              {text.slice(0, position)}
              <mark>{text.slice(position, position + 1) || " "}</mark>
              {text.slice(position + 1)}
            </code>
          ) : null}
          <span>{error.split("\n")[0]}</span>
        </div>
      ) : null}
    </div>
  );
}
