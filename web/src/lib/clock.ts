// One wall clock shared by every component that shows elapsed time: one timer for the page, and
// only the components that read it render when it ticks (not the rows or tables around them).
import { useSyncExternalStore } from "react";

const listeners = new Set<() => void>();
let now = Date.now() / 1000;
let timer: number | undefined;

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (timer === undefined) {
    timer = window.setInterval(() => {
      now = Date.now() / 1000;
      listeners.forEach((l) => l());
    }, 1000);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer !== undefined) {
      window.clearInterval(timer);
      timer = undefined;
    }
  };
}

function snapshot(): number {
  // Before the first subscriber the timer is not running: read the time (whole seconds, so that
  // two reads in one render agree).
  if (timer === undefined) now = Math.floor(Date.now() / 1000);
  return now;
}

/** Epoch seconds, updated once a second while some component reads it. */
export function useClock(): number {
  return useSyncExternalStore(subscribe, snapshot);
}
