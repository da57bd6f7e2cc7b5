// live.js: one subscription to the workspace's status events, shared by
// the views (each adds a listener while it is shown). Events come at least
// once: listeners drop what they saw by (run_uuid, seq).
import { subscribe } from "./api.js";

const listeners = new Set();
let sub = null;

export function startLive() {
  if (sub) sub.unsubscribe();
  sub = subscribe("status.>", "JobRunStatusEvent", (ev) => {
    for (const fn of listeners) fn(ev);
  });
}

export function stopLive() {
  if (sub) sub.unsubscribe();
  sub = null;
}

export function onStatus(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
