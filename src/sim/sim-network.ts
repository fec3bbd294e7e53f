import type { Message, NodeId } from "../raft/types.js";
import type { MessageHandler, PeerTransport, RequestHandler, SnapshotHandler } from "../transport/index.js";
import {
  RemoteError,
  RequestTimeoutError,
  TransportClosedError,
  UnreachableError,
} from "../transport/index.js";
import { errorText } from "../util/errors.js";
import type { Life, Scheduler } from "./sim-clock.js";

/** What the network asks of the world: the faults of the moment and a message's delay. */
export interface NetworkHost {
  readonly sched: Scheduler;
  /** Copies of a message from → to the network delivers now: 0 (lost or cut), 1, or 2 (duplicated). */
  copies(from: NodeId, to: NodeId): number;
  /** Whether the link from → to is cut at the moment of delivery. */
  blocked(from: NodeId, to: NodeId): boolean;
  /** A one-way delay, µs. */
  delayUs(): number;
  /** Counts a raft message sent. */
  sent(): void;
}

/**
 * The simulated network between the servers' drivers: each server's live transport by id. Messages (and request
 * bodies) travel as events in the sim's queue with the host's loss, duplication, delay and partitions; like the
 * old simulator's network they may be reordered, which the raft core must tolerate (a TCP link would not do
 * it, so this is harsher than the contract).
 */
export class SimNetwork {
  private readonly ends = new Map<NodeId, SimTransport>();

  constructor(private readonly host: NetworkHost) {}

  /** The transport of a new life of server `id` (replacing the previous life's). */
  attach(id: NodeId, life: Life): SimTransport {
    const t = new SimTransport(id, life, this);
    this.ends.set(id, t);
    return t;
  }

  /** Schedules `deliver` on `to`'s transport of the moment, unless the link is cut by then or `to` is down. */
  carry(from: NodeId, to: NodeId, deliver: (end: SimTransport) => void): number {
    const copies = this.host.copies(from, to);
    for (let i = 0; i < copies; i++) {
      this.host.sched.at(this.host.sched.nowUs() + this.host.delayUs(), () => {
        const end = this.ends.get(to);
        if (end === undefined || this.host.blocked(from, to)) return;
        const life = end.life;
        // A paused server's socket buffers hold what arrives; it reads it all when it resumes.
        if (life.paused) life.run(() => deliver(end), `n${from}`);
        else if (life.alive) deliver(end);
      });
    }
    return copies;
  }

  countSent(): void {
    this.host.sent();
  }

  get sched(): Scheduler {
    return this.host.sched;
  }
}

/** One life's end of the simulated network: the PeerTransport the shipped driver is given. */
export class SimTransport implements PeerTransport {
  private messageHandler: MessageHandler | null = null;
  private snapshotHandler: SnapshotHandler | null = null;
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private closed = false;

  constructor(
    readonly localId: NodeId,
    readonly life: Life,
    private readonly net: SimNetwork,
  ) {}

  private get up(): boolean {
    return this.life.alive && !this.closed;
  }

  /** Servers are found by id in the simulation; addresses only name them. */
  setPeer(_peer: NodeId, _addr: string): void {}

  send(to: NodeId, m: Message): void {
    if (!this.up) return;
    this.net.countSent();
    this.net.carry(this.localId, to, (end) => {
      if (end.up) end.messageHandler?.(m);
    });
  }

  async sendSnapshot(to: NodeId, m: Message, data: AsyncIterable<Uint8Array>): Promise<void> {
    if (!this.up) throw new TransportClosedError();
    const chunks: Uint8Array[] = [];
    for await (const c of data) chunks.push(c);
    await this.roundTrip(to, "snapshot", 30_000, async (end) => {
      const handler = end.snapshotHandler;
      if (handler === null) throw new Error("no snapshot handler");
      await handler(this.localId, m, list(chunks));
      return new Uint8Array(0);
    });
  }

  request(to: NodeId, method: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (!this.up) return Promise.reject(new TransportClosedError());
    return this.roundTrip(to, method, timeoutMs, (end) => {
      const handler = end.requestHandlers.get(method);
      if (handler === undefined) throw new Error(`no handler for ${method}`);
      return handler(this.localId, body);
    });
  }

  /**
   * Carries a call to `to` and its answer back, each way a network delay with the link's faults; a call or answer
   * lost leaves the caller to its timeout on this server's clock (as a request over TCP whose peer vanished).
   */
  private roundTrip(
    to: NodeId,
    method: string,
    timeoutMs: number,
    serve: (end: SimTransport) => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void): void => {
        if (settled || !this.up) return;
        settled = true;
        f();
      };
      const sched = this.net.sched;
      const timeoutUs = timeoutMs * 1000;
      sched.at(
        sched.nowUs() + timeoutUs,
        () => this.life.run(() => settle(() => reject(new RequestTimeoutError(to, method, timeoutMs)))),
        () => settled || !this.up || !this.life.alive,
      );
      const sent = this.net.carry(this.localId, to, (end) => {
        if (!end.up) return;
        serve(end).then(
          (answer) => this.answer(to, () => settle(() => resolve(answer))),
          (e: unknown) =>
            this.answer(to, () => settle(() => reject(new RemoteError(to, method, errorText(e))))),
        );
      });
      if (sent === 0) settle(() => reject(new UnreachableError(to, "the link is down or lost the request")));
    });
  }

  /** The answer of a request served by `from`, carried back over the link from → here. */
  private answer(from: NodeId, arrive: () => void): void {
    this.net.carry(from, this.localId, (end) => {
      if (end === this) arrive();
    });
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onSnapshot(handler: SnapshotHandler): void {
    this.snapshotHandler = handler;
  }

  onRequest(method: string, handler: RequestHandler): void {
    this.requestHandlers.set(method, handler);
  }

  /** Never called here: a dropped message is simply lost, and raft probes again on its next heartbeat. */
  onUnreachable(_handler: (peer: NodeId) => void): void {}

  async close(): Promise<void> {
    this.closed = true;
  }
}

async function* list(chunks: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const c of chunks) yield c;
}
