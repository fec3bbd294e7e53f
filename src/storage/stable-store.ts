/**
 * StableStore: the raft hard state (term, vote, commit), kept apart from the log as hashicorp/raft does, so a vote
 * is durable on its own before it is granted (raft-notes §1.9) and a restart never votes twice in one term.
 */
import { join } from "node:path";
import type { HardState } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { mkdirDurable } from "./atomic-file.js";
import { readStateFile, writeStateFile } from "./state-file.js";

/**
 * Contract: `load()` returns what the last completed `save()` stored (EMPTY for a fresh store); `save()` resolves
 * only once the state is durable, and a crash during it leaves the previous state. Not re-entrant: the driver awaits
 * each save before the next. `hardState` stays readable without I/O.
 */
export interface StableStore {
  /** The last saved hard state. */
  readonly hardState: HardState;
  save(state: HardState): Promise<void>;
  close(): Promise<void>;
}

const MAGIC = "CHST";
const EMPTY: HardState = { term: 0, vote: 0, commit: 0 };

/**
 * Checks a save against the stored state: the fields are u64s, the term and commit never go backwards, and a vote
 * cast in a term is never changed within it (a second vote in one term is how two leaders get elected).
 */
function checkTransition(cur: HardState, next: HardState): void {
  assert(
    Number.isSafeInteger(next.term) && next.term >= 0,
    `hard state term must be a u64, got ${next.term}`,
  );
  assert(
    Number.isSafeInteger(next.vote) && next.vote >= 0,
    `hard state vote must be a node id, got ${next.vote}`,
  );
  assert(
    Number.isSafeInteger(next.commit) && next.commit >= 0,
    `hard state commit must be a u64, got ${next.commit}`,
  );
  assert(next.term >= cur.term, `hard state term went back from ${cur.term} to ${next.term}`);
  assert(next.commit >= cur.commit, `hard state commit went back from ${cur.commit} to ${next.commit}`);
  const revote = next.term === cur.term && cur.vote !== 0 && next.vote !== cur.vote;
  assert(!revote, `hard state vote changed from ${cur.vote} to ${next.vote} within term ${cur.term}`);
}

/**
 * The hard state in `<dataDir>/raft/state`, replaced atomically on every change (tmp, fsync, rename, fsync dir:
 * two fsyncs). A save equal to the stored state is skipped, so a Ready that only re-reports it costs no I/O.
 */
export class FileStableStore implements StableStore {
  readonly path: string;
  #state: HardState;

  private constructor(path: string, state: HardState) {
    this.path = path;
    this.#state = state;
  }

  /** Opens the store of the data dir `dataDir`, creating `raft/` if needed. Throws CorruptStateError on a bad file. */
  static async open(dataDir: string): Promise<FileStableStore> {
    const raftDir = join(dataDir, "raft");
    await mkdirDurable(raftDir);
    const path = join(raftDir, "state");
    const fields = await readStateFile(path, MAGIC, 3);
    const state = fields === null ? EMPTY : { term: fields[0]!, vote: fields[1]!, commit: fields[2]! };
    return new FileStableStore(path, state);
  }

  get hardState(): HardState {
    return this.#state;
  }

  async save(state: HardState): Promise<void> {
    checkTransition(this.#state, state);
    const cur = this.#state;
    if (cur.term === state.term && cur.vote === state.vote && cur.commit === state.commit) return;
    await writeStateFile(this.path, MAGIC, [state.term, state.vote, state.commit]);
    this.#state = { term: state.term, vote: state.vote, commit: state.commit };
  }

  async close(): Promise<void> {}
}

/** The in-memory twin, for tests and the simulator: durable for the life of the object. */
export class MemoryStableStore implements StableStore {
  #state: HardState;

  constructor(initial: HardState = EMPTY) {
    this.#state = initial;
  }

  get hardState(): HardState {
    return this.#state;
  }

  async save(state: HardState): Promise<void> {
    checkTransition(this.#state, state);
    this.#state = { term: state.term, vote: state.vote, commit: state.commit };
  }

  async close(): Promise<void> {}
}
