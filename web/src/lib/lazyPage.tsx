// Route-level code splitting without Suspense: React 19 holds back a resolved Suspense boundary for
// up to 300 ms (it batches reveals), which would delay every page's first rows by that much. A page
// here renders "Loading…" until its chunk is in, then itself, with nothing held back.
import { type ComponentType, useEffect, useState } from "react";

export interface LazyPage {
  (): React.ReactNode;
  /** Starts downloading the page's chunk (e.g. while the app asks who the user is). */
  preload: () => Promise<ComponentType>;
}

export function lazyPage(load: () => Promise<ComponentType>): LazyPage {
  let loaded: ComponentType | null = null;
  let pending: Promise<ComponentType> | null = null;
  const preload = () => {
    pending ??= load().then((component) => (loaded = component));
    return pending;
  };
  function Page() {
    const [Component, setComponent] = useState<ComponentType | null>(() => loaded);
    const [error, setError] = useState<unknown>(null);
    useEffect(() => {
      if (Component) return;
      let live = true;
      preload().then(
        (c) => live && setComponent(() => c),
        (e: unknown) => live && setError(e),
      );
      return () => {
        live = false;
      };
    }, [Component]);
    if (error) return <p className="error">This page could not be loaded: {String(error)}. Reload to try again.</p>;
    return Component ? <Component /> : <p className="loading">Loading…</p>;
  }
  return Object.assign(Page, { preload });
}
