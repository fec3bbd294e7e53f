/**
 * The active agent's side of the backup history (history.ts): it remembers what it saw (each backup's duration,
 * each failure, each drill) and, after every backup and drill, lists its stores, merges with the key's previous
 * value and writes the summary back. Only the lock holder writes; a write that fails is logged and tried again
 * at the next event (the UI then shows the older summary, never a wrong one).
 */
import type { ConsulClient } from "../client/index.js";
import { errorText } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import {
  deriveHistory,
  encodeHistory,
  HISTORY_ENTRIES_MAX,
  HISTORY_VERSION,
  type HistoryDrill,
  type HistoryEntry,
  type HistoryStatus,
  parseHistory,
  type StoreListing,
} from "./history.js";
import type { BackupStore } from "./store.js";

export interface HistoryWriterOptions {
  readonly client: ConsulClient;
  /** `history_key`. */
  readonly key: string;
  readonly stores: readonly BackupStore[];
  readonly log: Logger;
  readonly now: () => number;
}

export class HistoryWriter {
  private readonly o: HistoryWriterOptions;
  /** What this agent saw, newest last, bounded as the summary is. */
  private seen: HistoryEntry[] = [];

  constructor(o: HistoryWriterOptions) {
    this.o = o;
  }

  /** A backup or a failed attempt this agent made. */
  record(entry: HistoryEntry): void {
    this.seen.push(entry);
    if (this.seen.length > HISTORY_ENTRIES_MAX) this.seen.splice(0, this.seen.length - HISTORY_ENTRIES_MAX);
  }

  /** A drill of the backup named `name` (the object name). */
  recordDrill(name: string, drill: HistoryDrill): void {
    const i = this.seen.findLastIndex((e) => e.name === name);
    const had = this.seen[i];
    if (had !== undefined) this.seen[i] = { ...had, drill };
    else {
      // A backup another agent took (this one drilled it after a takeover): the merge attaches the drill by ID.
      const id = /^consul-(\d+)\.snap/.exec(name)?.[1];
      if (id === undefined) return;
      this.record({
        id,
        name,
        timeMs: Number(BigInt(id) / 1_000_000n),
        index: 0,
        size: 0,
        durationMs: null,
        verified: false,
        encrypted: name.endsWith(".enc"),
        destinations: [],
        drill,
      });
    }
  }

  /** Lists the stores, merges, and writes the key; never rejects. */
  async write(status: HistoryStatus): Promise<void> {
    const { client, key, stores, log, now } = this.o;
    try {
      const listings: StoreListing[] = [];
      const unlisted: string[] = [];
      for (const store of stores) {
        try {
          listings.push({ label: store.label, objects: await store.list("consul-") });
        } catch (e) {
          unlisted.push(store.label);
          log.warn(`backup history: listing ${store.label}: ${errorText(e)}`);
        }
      }
      const previous = parseHistory((await client.kvGet(key, { consistent: true })).entry?.value ?? null);
      const entries = deriveHistory(listings, previous, this.seen, unlisted);
      const written = await client.kvPut(
        key,
        encodeHistory({ version: HISTORY_VERSION, updatedMs: now(), status, entries }),
      );
      if (!written) log.warn(`backup history: the write of ${key} was refused`);
    } catch (e) {
      log.warn(`backup history: writing ${key}: ${errorText(e)}`);
    }
  }
}
