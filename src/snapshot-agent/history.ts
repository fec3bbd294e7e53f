/**
 * The backup history the web UI shows (docs/ui.md, Backups): a bounded summary the active agent writes into a KV
 * key beside its lock key (`history_key`, default `consul-snapshot/history`) after every backup and drill, so any
 * agent's UI reads it with a blocking query, through the same ACLs as any key, without the browser talking to
 * another port. It is derived from the stores' listings (the objects and their recorded metadata) merged with
 * the previous summary and what this agent saw (durations, failures, drill results): an object the key does not
 * know, as after a datacenter restore rolled the key back, is added from the store again, so the key heals
 * itself at the next write. Pure: the agent does the listing and the writing (history-writer.ts).
 */
import { parseObjectName } from "./naming.js";
import type { StoredObject } from "./store.js";

/** The summary's format version: the UI refuses another. */
export const HISTORY_VERSION = 1;
/** Entries kept, newest last: 200 at ~250 bytes each stays well below Consul's 512 KiB value limit. */
export const HISTORY_ENTRIES_MAX = 200;

/** A restore drill of one backup (drill.ts), as the history records it. */
export interface HistoryDrill {
  readonly ok: boolean;
  /** When it ended (ms since the epoch). */
  readonly atMs: number;
  readonly seconds: number;
  /** KV keys the restored server held; 0 when it failed before counting. */
  readonly keys: number;
  /** Why it failed; "" when it passed. */
  readonly error: string;
}

/** One backup attempt: a stored backup, or a failed attempt (error set, nothing stored). */
export interface HistoryEntry {
  /** The snapshot ID (Unix nanoseconds, as in the object name). */
  readonly id: string;
  /** The object name, "" for a failed attempt. */
  readonly name: string;
  /** When it was taken (ms since the epoch). */
  readonly timeMs: number;
  /** The archive's raft index; 0 when unknown (a failure, or a store without metadata). */
  readonly index: number;
  /** Bytes as stored; 0 for a failure. */
  readonly size: number;
  /** How long the whole backup took (save, verify, uploads, read-back), ms; null when no agent recorded it. */
  readonly durationMs: number | null;
  /** Read back from a store with its recorded size (and SHA-256, at write time); false for a failure. */
  readonly verified: boolean;
  readonly encrypted: boolean;
  /** Labels of the stores holding it now (`local:/backups`, `s3://b/p`…); [] when retention deleted it. */
  readonly destinations: readonly string[];
  /** Why the attempt failed; absent for a stored backup. */
  readonly error?: string;
  /** The restore drill of this backup, when one ran. */
  readonly drill?: HistoryDrill;
}

/** The active agent's status, beside its history. */
export interface HistoryStatus {
  /** The active agent's service ID. */
  readonly agent: string;
  readonly intervalMs: number;
  /** When the next backup is due (ms). */
  readonly nextRunMs: number;
  /** The last failure's text; "" after a success. */
  readonly lastError: string;
}

export interface HistoryDoc {
  readonly version: number;
  /** When the active agent wrote it (ms). */
  readonly updatedMs: number;
  readonly status: HistoryStatus;
  /** Oldest first, at most HISTORY_ENTRIES_MAX. */
  readonly entries: readonly HistoryEntry[];
}

/** One store's listing, by its label. */
export interface StoreListing {
  readonly label: string;
  readonly objects: readonly StoredObject[];
}

/** The previous summary's entries, or [] when the value is absent, not JSON, or another version. */
export function parseHistory(value: Uint8Array | null): HistoryEntry[] {
  if (value === null || value.length === 0) return [];
  try {
    const doc = JSON.parse(new TextDecoder().decode(value)) as Partial<HistoryDoc>;
    if (doc.version !== HISTORY_VERSION || !Array.isArray(doc.entries)) return [];
    return doc.entries.filter(
      (e): e is HistoryEntry =>
        typeof e === "object" &&
        e !== null &&
        typeof e.id === "string" &&
        typeof e.timeMs === "number" &&
        Array.isArray(e.destinations),
    );
  } catch {
    return [];
  }
}

/**
 * The history: every backup the stores hold (their facts from the listing), every earlier entry (kept, with no
 * destination, once retention deleted its object) and the agent's own fresh entries (`seen`, which win for
 * duration, error and drill), newest HISTORY_ENTRIES_MAX kept, oldest first. `unlisted`: the labels of stores
 * whose listing failed this time.
 */
export function deriveHistory(
  listings: readonly StoreListing[],
  previous: readonly HistoryEntry[],
  seen: readonly HistoryEntry[],
  unlisted: readonly string[] = [],
): HistoryEntry[] {
  // A store that could not be listed says nothing: its backups keep the destinations they had.
  const keep = (e: HistoryEntry): string[] => e.destinations.filter((d) => unlisted.includes(d));
  const byId = new Map<string, HistoryEntry>();
  // Earlier facts first, then this agent's: a later source only fills or corrects.
  for (const e of [...previous, ...seen]) {
    const had = byId.get(e.id);
    byId.set(e.id, had === undefined ? e : merge(had, e));
  }
  // What the stores hold now: where each backup is, and its recorded size and index.
  const stored = new Map<string, HistoryEntry>();
  for (const { label, objects } of listings) {
    for (const obj of objects) {
      const parsed = parseObjectName(obj.name);
      if (parsed === null) continue;
      const id = parsed.id.toString();
      const had = stored.get(id);
      const verified = obj.meta !== undefined && obj.meta.size === obj.size;
      stored.set(id, {
        id,
        name: obj.name,
        timeMs: parsed.time.getTime(),
        index: obj.meta?.index ?? had?.index ?? 0,
        size: obj.size,
        durationMs: null,
        verified: verified || (had?.verified ?? false),
        encrypted: parsed.encrypted,
        destinations: [...(had?.destinations ?? []), label],
      });
    }
  }
  for (const e of byId.values()) {
    if (e.error === undefined && !stored.has(e.id)) byId.set(e.id, { ...e, destinations: keep(e) });
  }
  for (const [id, s] of stored) {
    const had = byId.get(id);
    byId.set(
      id,
      had === undefined
        ? s
        : {
            ...had,
            name: s.name,
            index: s.index !== 0 ? s.index : had.index,
            size: s.size,
            // A listing without metadata (S3's) cannot say; the agent's read-back at write time did.
            verified: s.verified || had.verified,
            destinations: [...s.destinations, ...keep(had).filter((d) => !s.destinations.includes(d))],
          },
    );
  }
  const all = [...byId.values()].sort((a, b) => a.timeMs - b.timeMs || compareIds(a.id, b.id));
  return all.slice(Math.max(0, all.length - HISTORY_ENTRIES_MAX));
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** `later`'s known facts over `earlier`'s; unknown ones (null duration, 0 index) do not erase known ones. */
function merge(earlier: HistoryEntry, later: HistoryEntry): HistoryEntry {
  const drill = later.drill ?? earlier.drill;
  return {
    ...earlier,
    ...later,
    index: later.index !== 0 ? later.index : earlier.index,
    durationMs: later.durationMs ?? earlier.durationMs,
    ...(drill === undefined ? {} : { drill }),
  };
}

/** The value written to the key: compact JSON. */
export function encodeHistory(doc: HistoryDoc): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(doc));
}
