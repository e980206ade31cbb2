import { useState } from "react";

/** Tags as chips: removable with `onRemove`, and extendable in place with `onAdd`. */
export function Tags({
  tags,
  onAdd,
  onRemove,
}: {
  tags: string[];
  onAdd?: (tag: string) => void;
  onRemove?: (tag: string) => void;
}) {
  const [draft, setDraft] = useState("");
  return (
    <span className="tags">
      {tags.map((t) => (
        <span key={t} className="tag">
          {t}
          {onRemove ? (
            <button className="tag-x" aria-label={`remove tag ${t}`} onClick={() => onRemove(t)}>
              ×
            </button>
          ) : null}
        </span>
      ))}
      {onAdd ? (
        <form
          className="tag-add"
          onSubmit={(e) => {
            e.preventDefault();
            if (draft.trim()) onAdd(draft.trim());
            setDraft("");
          }}
        >
          <input aria-label="add tag" placeholder="+ tag" value={draft} onChange={(e) => setDraft(e.target.value)} size={8} />
        </form>
      ) : null}
    </span>
  );
}
