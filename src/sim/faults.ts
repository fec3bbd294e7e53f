import type { RawNode } from "../raft/node.js";
import type { NodeId } from "../raft/types.js";
import type { Rng } from "../util/rng.js";
import type { Coverage } from "./coverage.js";
import type { SimOptions } from "./options.js";

/** A running server as the faults see it: its core, to find the leader and its log's tail. */
export interface FaultNode {
  readonly raw: RawNode;
}

/** The world the faults act on (world.ts). */
export interface FaultHost {
  readonly opts: SimOptions;
  readonly coverage: Coverage;
  /** Every server, null while it is down. */
  readonly nodes: ReadonlyMap<NodeId, FaultNode | null>;
  live(id: NodeId): FaultNode | undefined;
  leaderHint(): NodeId;
  crashNode(id: NodeId): void;
  startNode(id: NodeId): void;
  trace(line: string): void;
}

type PartitionMode = "split" | "isolate" | "isolateLeader" | "oneWay" | "bridge";

/**
 * The network's and the servers' misfortunes for one run: message loss and duplication, partitions (symmetric
 * split, one server isolated, a one-way cut, and a server bridging two halves that cannot hear each other),
 * crashes and restarts.
 */
export class Faults {
  private readonly world: FaultHost;
  private readonly rng: Rng;
  private readonly cut = new Set<string>();
  private healed = false;

  constructor(world: FaultHost, rng: Rng) {
    this.world = world;
    this.rng = rng;
  }

  blocked(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  /** How many copies of a message the network delivers: 0 (lost), 1, or 2 (duplicated). */
  copies(from: NodeId, to: NodeId): number {
    if (this.blocked(from, to)) return 0;
    if (this.healed) return 1;
    const o = this.world.opts;
    if (this.rng.chance(o.dropRate)) return 0;
    return this.rng.chance(o.duplicateRate) ? 2 : 1;
  }

  step(): void {
    const o = this.world.opts;
    if (this.cut.size === 0 && this.rng.chance(o.partitionRate)) this.partition();
    else if (this.cut.size > 0 && this.rng.chance(o.healRate)) this.heal();
    if (o.leaderCrashRate > 0) this.crashLeaderMidReplication();
    for (const [id, node] of this.world.nodes) {
      if (node != null && this.rng.chance(o.crashRate)) this.world.crashNode(id);
      // A seed that churns leaders brings servers back only when fewer than a quorum run (crashLeaderMidReplication).
      else if (node == null && o.leaderCrashRate === 0 && this.rng.chance(o.restartRate))
        this.world.startNode(id);
    }
  }

  /**
   * Figure 8's schedule on purpose (raft-notes 1.1; the MIT 6.824 Figure 8 test does much the same): crash the
   * leader while the newest entry of its log is on fewer than a quorum of voters, so that a later leader, of
   * another term, finds it on a minority beside entries of its own.
   */
  private crashLeaderMidReplication(): void {
    const leader = this.world.live(this.world.leaderHint());
    if (leader !== undefined && tailOnMinority(leader) && this.rng.chance(this.world.opts.leaderCrashRate)) {
      const id = leader.raw.raft.id;
      this.world.trace(`n${id} crashes as leader, the tail of its log on a minority`);
      this.world.coverage.leaderCrashes++;
      this.world.crashNode(id);
    }
    // As the 6.824 test: a crashed server comes back whenever fewer than a quorum run, so a bare majority is up,
    // each quorum is the one the crashes left, and which server returns is random.
    const ids = [...this.world.nodes.keys()];
    const down = ids.filter((id) => this.world.nodes.get(id) == null);
    if (down.length > 0 && ids.length - down.length <= ids.length / 2) {
      this.world.startNode(down[this.rng.int(0, down.length)]!);
    }
  }

  /**
   * The same moment, taken at once: a leader that has just applied an entry while newer ones are still on a
   * minority. A step is 10 ms, and the window between a commit and the next entry reaching a quorum is one
   * round trip, which the per-step draw rarely hits. Returns whether to crash `node` right after this apply.
   */
  crashAfterApply(node: FaultNode): boolean {
    const rate = this.world.opts.leaderCrashRate;
    if (rate === 0 || this.healed || node.raw.raft.role !== "leader" || !tailOnMinority(node)) return false;
    if (!this.rng.chance(rate)) return false;
    this.world.trace(
      `n${node.raw.raft.id} will crash right after an apply, the tail of its log on a minority`,
    );
    this.world.coverage.leaderCrashes++;
    return true;
  }

  private partition(): void {
    const ids = [...this.world.nodes.keys()];
    const modes: PartitionMode[] = ["split", "isolate", "isolateLeader", "oneWay", "bridge"];
    const mode = modes[this.rng.int(0, modes.length)]!;
    const shuffled = ids.map((id) => ({ id, k: this.rng.float() }));
    shuffled.sort((a, b) => a.k - b.k);
    const order = shuffled.map((x) => x.id);
    // Jepsen's favourite: cut the leader off, so a deposed leader that still believes in itself meets clients.
    const leader = this.world.leaderHint();
    if (mode === "isolateLeader" && leader !== 0) order.unshift(...order.splice(order.indexOf(leader), 1));
    const cutBoth = (a: NodeId, b: NodeId) => {
      this.cut.add(`${a}>${b}`);
      this.cut.add(`${b}>${a}`);
    };
    if (mode === "isolate" || mode === "isolateLeader" || mode === "oneWay") {
      const victim = order[0]!;
      for (const other of order.slice(1)) {
        if (mode !== "oneWay") cutBoth(victim, other);
        else this.cut.add(`${other}>${victim}`); // the victim can send but not hear
      }
    } else {
      const bridge = mode === "bridge" ? order.shift() : undefined;
      const half = this.rng.int(1, Math.max(2, order.length));
      const a = order.slice(0, half);
      const b = order.slice(half);
      for (const x of a) for (const y of b) cutBoth(x, y);
      if (bridge !== undefined) this.world.trace(`n${bridge} bridges the partition`);
    }
    this.world.trace(`partition (${mode}): ${[...this.cut].join(" ")}`);
  }

  /** Cuts `victim` off from every other server, both ways, unless a partition is already in place. */
  isolate(victim: NodeId): void {
    if (this.cut.size > 0 || this.healed) return;
    for (const other of this.world.nodes.keys()) {
      if (other === victim) continue;
      this.cut.add(`${victim}>${other}`);
      this.cut.add(`${other}>${victim}`);
    }
    this.world.trace(`partition (isolate n${victim}): ${[...this.cut].join(" ")}`);
  }

  private heal(): void {
    this.cut.clear();
    this.world.trace("partition healed");
  }

  /** Ends every fault for the liveness phase: links heal, loss stops, crashed servers restart. */
  healAll(): void {
    this.heal();
    this.healed = true;
    for (const [id, node] of this.world.nodes) if (node == null) this.world.startNode(id);
  }
}

/** Whether the newest entry of a leader's log is on fewer than a quorum of voters (itself included). */
function tailOnMinority(leader: FaultNode): boolean {
  const r = leader.raw.raft;
  const last = r.log.lastIndex();
  const holding = r.voters.filter((id) => id === r.id || (r.prs.get(id)?.match ?? 0) >= last).length;
  return holding <= r.voters.length / 2;
}
