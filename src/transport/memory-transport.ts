/**
 * MemoryTransport: the in-process twin of TcpTransport for tests of the layers above. Messages go through the
 * same codec (so a receiver never shares objects with the sender, as on a wire) and arrive asynchronously, in
 * order per sender. A MemoryNetwork connects the transports and can take one down.
 */
import type { Message, NodeId } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { errorText } from "../util/errors.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import {
  RemoteError,
  RequestTimeoutError,
  SnapshotTransferError,
  TransportClosedError,
  UnreachableError,
} from "./errors.js";
import type {
  MessageHandler,
  ReleaseAnswer,
  RequestHandler,
  SnapshotHandler,
  Transport,
} from "./transport.js";

export class MemoryNetwork {
  private readonly nodes = new Map<NodeId, MemoryTransport>();
  private readonly down = new Set<NodeId>();

  /** A new transport for `id` on this network. */
  join(id: NodeId): MemoryTransport {
    assert(!this.nodes.has(id), `node ${id} already joined`);
    const t = new MemoryTransport(id, this);
    this.nodes.set(id, t);
    return t;
  }

  /** While down, a node neither sends nor receives: as if its cable were pulled. */
  setDown(id: NodeId, down: boolean): void {
    if (down) this.down.add(id);
    else this.down.delete(id);
  }

  /** The live transport `from` can reach as `to`, or null. */
  route(from: NodeId, to: NodeId): MemoryTransport | null {
    if (this.down.has(from) || this.down.has(to)) return null;
    return this.nodes.get(to) ?? null;
  }

  leave(id: NodeId): void {
    this.nodes.delete(id);
  }
}

export class MemoryTransport implements Transport {
  readonly localId: NodeId;
  private readonly net: MemoryNetwork;
  private closed = false;
  private messageHandler: MessageHandler | null = null;
  private snapshotHandler: SnapshotHandler | null = null;
  private readonly requestHandlers = new Map<
    string,
    { readonly handler: RequestHandler; readonly release: ReleaseAnswer | undefined }
  >();
  private readonly unreachableHandlers: ((peer: NodeId) => void)[] = [];
  private readonly pending = new Set<(err: Error) => void>();

  constructor(id: NodeId, net: MemoryNetwork) {
    this.localId = id;
    this.net = net;
  }

  send(to: NodeId, m: Message): void {
    assert(
      m.from === this.localId && m.to === to,
      `send: message ${m.from}->${m.to} passed as ${this.localId}->${to}`,
    );
    if (this.closed) return;
    const target = this.net.route(this.localId, to);
    if (!target) {
      this.unreachable(to);
      return;
    }
    const bytes = encodeMessage(m);
    // setImmediate callbacks run in order, so per-sender order holds as it does on one TCP connection.
    setImmediate(() => target.deliver(decodeMessage(bytes)));
  }

  async sendSnapshot(to: NodeId, m: Message, data: AsyncIterable<Uint8Array>): Promise<void> {
    const target = this.connect(to);
    const handler = target.snapshotHandler;
    if (!handler) throw new SnapshotTransferError(`cannot send snapshot to node ${to}: no snapshot handler`);
    let consumedToEnd = false;
    async function* copies(): AsyncGenerator<Uint8Array> {
      for await (const chunk of data) yield chunk.slice();
      consumedToEnd = true;
    }
    try {
      await this.untilClosed(handler(this.localId, decodeMessage(encodeMessage(m)), copies()));
    } catch (err) {
      if (err instanceof TransportClosedError) throw err;
      throw new SnapshotTransferError(`cannot send snapshot to node ${to}: ${(err as Error).message}`);
    }
    if (!consumedToEnd) {
      throw new SnapshotTransferError(
        `cannot send snapshot to node ${to}: the handler returned before the end`,
      );
    }
  }

  async request(to: NodeId, method: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const target = this.connect(to);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RequestTimeoutError(to, method, timeoutMs)), timeoutMs);
    });
    try {
      const reply = target.serve(this.localId, method, body.slice()).then(
        (ok) => ok,
        (err: unknown) => {
          throw new RemoteError(to, method, errorText(err));
        },
      );
      return await this.untilClosed(Promise.race([reply, timeout]));
    } finally {
      clearTimeout(timer);
    }
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onSnapshot(handler: SnapshotHandler): void {
    this.snapshotHandler = handler;
  }

  onRequest(method: string, handler: RequestHandler, release?: ReleaseAnswer): void {
    this.requestHandlers.set(method, { handler, release });
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.unreachableHandlers.push(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.net.leave(this.localId);
    for (const reject of this.pending) reject(new TransportClosedError());
    this.pending.clear();
  }

  private deliver(m: Message): void {
    if (!this.closed && this.net.route(m.from, this.localId)) this.messageHandler?.(m);
  }

  private async serve(from: NodeId, method: string, body: Uint8Array): Promise<Uint8Array> {
    const served = this.requestHandlers.get(method);
    if (!served) throw new Error(`no handler for method "${method}"`);
    const answer = await served.handler(from, body);
    // The caller gets a copy (as a socket would deliver), so a lent answer goes back at once.
    const copy = answer.slice();
    served.release?.(answer);
    return copy;
  }

  /** The reachable target, or throws as TcpTransport rejects. */
  private connect(to: NodeId): MemoryTransport {
    if (this.closed) throw new TransportClosedError();
    const target = this.net.route(this.localId, to);
    if (!target) throw new UnreachableError(to, "no route to this node");
    return target;
  }

  /** `p`, or TransportClosedError if this transport closes first. */
  private untilClosed<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.add(reject);
      p.then(resolve, reject).finally(() => this.pending.delete(reject));
    });
  }

  private unreachable(peer: NodeId): void {
    queueMicrotask(() => {
      if (this.closed) return;
      for (const h of this.unreachableHandlers) h(peer);
    });
  }
}
