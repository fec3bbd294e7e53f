import { SeededRng } from "../util/rng.js";
import { decodeConfChange } from "./confchange.js";
import type { Bugs } from "./config.js";
import { RawNode } from "./node.js";
import { MemoryStorage } from "./storage.js";
import type { Entry, Message, NodeId } from "./types.js";

/**
 * A synchronous cluster for unit tests (etcd-io/raft's `network`): each Ready is persisted to MemoryStorage at
 * once, its messages are delivered in order unless a filter drops them, and committed entries are recorded.
 * Test-only, but kept in src/raft so it stays as pure as the code it drives.
 */
export interface HarnessOptions {
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly electionTicks?: number;
  readonly bugs?: Bugs;
  readonly seed?: number;
  readonly learners?: readonly NodeId[];
  readonly appendBytesMax?: number;
}

export interface HarnessNode {
  readonly raw: RawNode;
  readonly storage: MemoryStorage;
  readonly applied: Entry[];
  readonly reads: { index: number; requestId: number }[];
}

export class Harness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  /** Returns true to drop a message. */
  drop: (m: Message) => boolean = () => false;
  readonly delivered: Message[] = [];
  private readonly opts: HarnessOptions;

  constructor(voters: readonly NodeId[], opts: HarnessOptions = {}) {
    this.opts = opts;
    for (const id of [...voters, ...(opts.learners ?? [])]) {
      const storage = new MemoryStorage();
      storage.bootstrap({ voters, learners: opts.learners ?? [] });
      this.add(id, storage);
    }
    this.settle();
  }

  /** Starts a server on `storage` (a fresh one for a server joining later). */
  add(id: NodeId, storage: MemoryStorage = new MemoryStorage()): HarnessNode {
    const raw = new RawNode({
      id,
      storage,
      rng: new SeededRng((this.opts.seed ?? 1) * 1000 + id),
      electionTicks: this.opts.electionTicks ?? 10,
      heartbeatTicks: 1,
      applied: storage.snapshot().index,
      preVote: this.opts.preVote ?? false,
      checkQuorum: this.opts.checkQuorum ?? false,
      bugs: this.opts.bugs ?? {},
      ...(this.opts.appendBytesMax === undefined ? {} : { appendBytesMax: this.opts.appendBytesMax }),
    });
    const node: HarnessNode = { raw, storage, applied: [], reads: [] };
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): HarnessNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId) {
    return this.node(id).raw.raft;
  }

  /** Handles one Ready of one node; returns its messages. */
  private handle(node: HarnessNode): Message[] {
    const rd = node.raw.ready();
    if (rd.snapshot !== null) node.storage.applySnapshot(rd.snapshot);
    node.storage.append(rd.entries);
    if (rd.hardState !== null) node.storage.setHardState(rd.hardState);
    for (const e of rd.committed) {
      if (e.kind === "conf") node.raw.applyConfChange(decodeConfChange(e.data));
      node.applied.push(e);
    }
    node.reads.push(...rd.readStates);
    node.raw.advance(rd);
    return [...rd.messages];
  }

  /** Processes Readies and delivers messages until nothing moves. */
  settle(roundsMax = 1000): void {
    for (let round = 0; round < roundsMax; round++) {
      const msgs: Message[] = [];
      for (const node of this.nodes.values()) while (node.raw.hasReady()) msgs.push(...this.handle(node));
      if (msgs.length === 0) return;
      for (const m of msgs) {
        const to = this.nodes.get(m.to);
        if (to === undefined || this.drop(m)) continue;
        this.delivered.push(m);
        to.raw.step(m);
      }
    }
    throw new Error(`cluster did not settle in ${roundsMax} rounds`);
  }

  tick(ids: readonly NodeId[], times: number): void {
    for (let i = 0; i < times; i++) {
      for (const id of ids) this.node(id).raw.tick();
      this.settle();
    }
  }

  tickAll(times: number): void {
    this.tick([...this.nodes.keys()], times);
  }

  campaign(id: NodeId): void {
    this.node(id).raw.campaign();
    this.settle();
  }

  propose(id: NodeId, text: string): number {
    const index = this.node(id).raw.propose(new TextEncoder().encode(text));
    this.settle();
    return index;
  }

  /** Cuts every link to and from `ids`. */
  isolate(...ids: NodeId[]): void {
    const cut = new Set(ids);
    this.drop = (m) => cut.has(m.from) || cut.has(m.to);
  }

  heal(): void {
    this.drop = () => false;
  }

  leaders(): NodeId[] {
    return [...this.nodes.entries()].filter(([, n]) => n.raw.raft.role === "leader").map(([id]) => id);
  }

  appliedTexts(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.kind === "normal" && e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}
