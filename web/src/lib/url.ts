// URL-held view state: a link reproduces the view (query, columns, sort, selection, zoom).

export function getList(params: URLSearchParams, key: string): string[] {
  const raw = params.get(key);
  return raw ? raw.split(",").filter(Boolean) : [];
}

export function setParam(params: URLSearchParams, key: string, value: string | string[] | null | undefined): URLSearchParams {
  const next = new URLSearchParams(params);
  const text = Array.isArray(value) ? value.join(",") : value;
  if (text === null || text === undefined || text === "") next.delete(key);
  else next.set(key, text);
  return next;
}

export function getRange(params: URLSearchParams, key: string): [number, number] | null {
  const parts = getList(params, key).map(Number);
  return parts.length === 2 && parts.every(Number.isFinite) && parts[0] < parts[1] ? [parts[0], parts[1]] : null;
}
