/** Helpers for tests of the agent's local state and its HTTP endpoints: a LocalState on manual timers. */
import { LocalState, type LocalStateOptions } from "./state.js";
import { ManualTimers } from "./timers.js";

/** node1 of dc1, nothing persisted, timers that fire only when a test advances them, no stagger. */
export function manualLocalState(opts: Partial<LocalStateOptions> = {}): LocalState {
  return new LocalState({
    nodeName: "node1",
    datacenter: "dc1",
    timers: new ManualTimers(),
    persist: null,
    random: () => 0,
    ...opts,
  });
}
