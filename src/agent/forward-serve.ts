/**
 * The server's side of a forwarded HTTP request (server/rpc-http.ts): a request carried over the server RPC
 * transport by a client agent (or a server of another datacenter) is answered by this agent's own `answer`, the
 * same router an HTTP client reaches, so ACLs, blocking queries and Consul's headers are the server's own.
 *
 * The request body arrives chunk by chunk (`send`), each accepted only once the handler has taken the previous
 * one, so an upload is never held whole; the answer's body leaves in parts of at most FORWARD_CHUNK_BYTES that
 * the caller pulls (`next`). An exchange nobody calls for `idleMs` (its caller died) is dropped and its body
 * producer stopped.
 *
 * A blocking request (`parkAs` set) does not hold a call while it waits: unanswered after PARK_GRACE_MS, its
 * exchange is parked and the start call answers `parked`; the caller's one `http.ready` long poll learns when it is
 * answered and pulls it with `next`. So a client carries thousands of blocking queries on a few calls; parked
 * exchanges are bounded apart from the others (`parkedMax`), past which Consul's rate-limit error is answered.
 */
import { BodyTooLargeError, type HttpRequest, type HttpResponse, isStreamBody } from "../http/index.js";
import { serve } from "../server/rpc.js";
import { FORWARD_CHUNK_BYTES, type ForwardPart, type ForwardStart } from "../server/rpc-http.js";
import { FORWARD } from "../server/rpc-methods.js";
import { CairnError } from "../util/errors.js";

type Transport = Parameters<typeof serve>[0];
type Part = { readonly head: ForwardPart; readonly bytes: Uint8Array };

/** A forwarded call that names no live exchange, or breaks the order of the calls. */
export class ForwardError extends CairnError {
  readonly code = "forward_exchange";
  override name = "ForwardError";
}

export interface ForwardServeOptions {
  /** Answers one request as this agent's HTTP listener would; `headers` are all the request's, names lower case. */
  readonly answer: (req: HttpRequest, headers: Readonly<Record<string, string>>) => Promise<HttpResponse>;
  /** Bound on a request body read whole (the HTTP listener's bodyBytesMax). */
  readonly bodyBytesMax: number;
  /** Exchanges at once; more are refused (the caller answers 500). Default 512. */
  readonly exchangesMax?: number;
  /** An exchange idle this long (no call in progress) is dropped. Default 60 s. */
  readonly idleMs?: number;
  /** Parked exchanges (blocking queries waiting on this server) at once; more are refused. Default 50,000. */
  readonly parkedMax?: number;
}

/** A blocking request not answered within this long is parked rather than hold its call. */
const PARK_GRACE_MS = 25;
/** An `http.ready` poll answers (maybe empty) within this long at most. */
const READY_WAIT_MAX_MS = 30_000;

/** Consul's text for a server refusing an RPC over its rate limit (structs.ErrRPCRateExceeded); the caller answers 429. */
export const RATE_EXCEEDED_TEXT = "RPC rate limit exceeded";

/**
 * The request body as a queue between the forwarded `send` calls and the handler: one chunk at a time, and a
 * push resolves when the handler has taken the chunk (or will never take it).
 */
class BodyQueue implements AsyncIterable<Uint8Array> {
  private chunk: Uint8Array | null = null;
  private ended = false;
  private failure: Error | null = null;
  private taken: (() => void) | null = null;
  private wake: (() => void) | null = null;

  push(chunk: Uint8Array): Promise<void> {
    if (this.ended || this.failure !== null) return Promise.resolve();
    this.chunk = chunk;
    this.wake?.();
    return new Promise((resolve) => {
      this.taken = resolve;
    });
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  fail(err: Error): void {
    this.failure = err;
    this.taken?.();
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      if (this.chunk !== null) {
        const c = this.chunk;
        this.chunk = null;
        const t = this.taken;
        this.taken = null;
        t?.();
        if (c.length > 0) yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }
}

function concat(chunks: readonly Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

class Exchange {
  lastMs = Date.now();
  calls = 0;
  /** Set once the handler answered. */
  response: HttpResponse | null = null;
  /** The handler answered or failed. */
  settled = false;
  readonly answered: Promise<HttpResponse>;
  /** What is left of the response body: bytes not yet sent, then the rest of a stream. */
  private pending: Uint8Array = new Uint8Array(0);
  private rest: AsyncIterator<Uint8Array> | null = null;
  private headSent = false;

  constructor(
    readonly body: BodyQueue,
    req: HttpRequest,
    answer: (req: HttpRequest) => Promise<HttpResponse>,
  ) {
    this.answered = answer(req).then((r) => {
      this.response = r;
      if (isStreamBody(r.body)) this.rest = r.body.stream[Symbol.asyncIterator]();
      else this.pending = typeof r.body === "string" ? new TextEncoder().encode(r.body) : r.body;
      return r;
    });
    const settle = (): void => {
      this.settled = true;
    };
    this.answered.then(settle, settle);
  }

  /** The next part of the answer: up to FORWARD_CHUNK_BYTES, the head with the first. */
  async nextPart(): Promise<Part> {
    const r = this.response;
    if (r === null) throw new ForwardError("no answer yet");
    const chunks: Uint8Array[] = [];
    let n = 0;
    if (this.pending.length > 0) {
      const take = this.pending.subarray(0, FORWARD_CHUNK_BYTES);
      this.pending = this.pending.subarray(take.length);
      chunks.push(take);
      n += take.length;
    }
    while (this.rest !== null && n < FORWARD_CHUNK_BYTES) {
      const step = await this.rest.next();
      if (step.done === true) {
        this.rest = null;
        break;
      }
      const room = FORWARD_CHUNK_BYTES - n;
      chunks.push(step.value.subarray(0, room));
      n += Math.min(room, step.value.length);
      if (step.value.length > room) this.pending = step.value.subarray(room);
    }
    const done = this.rest === null && this.pending.length === 0;
    const head = this.headSent ? null : { status: r.status, headers: { ...r.headers } };
    this.headSent = true;
    return { head: { head, done, parked: false }, bytes: concat(chunks, n) };
  }

  /** The caller is gone: stop reading its body and stop producing the answer's. */
  abandon(): void {
    this.body.fail(new ForwardError("the forwarding caller went away"));
    void this.rest?.return?.();
    this.rest = null;
  }
}

/** Serves FORWARD.start/send/next/cancel on `transport`. */
export class ForwardServer {
  private readonly exchanges = new Map<string, Exchange>();
  /** Exchanges started parkable (counted against parkedMax, not exchangesMax) until they end. */
  private readonly parked = new Set<string>();
  /** Per caller: its parked exchanges now answered, not yet told; and its `http.ready` poll waiting, if any. */
  private readonly readyIds = new Map<string, string[]>();
  private readonly polls = new Map<string, () => void>();
  private readonly sweep: NodeJS.Timeout;
  private readonly exchangesMax: number;
  private readonly idleMs: number;
  private readonly parkedMax: number;

  constructor(
    transport: Transport,
    private readonly o: ForwardServeOptions,
  ) {
    this.exchangesMax = o.exchangesMax ?? 512;
    this.idleMs = o.idleMs ?? 60_000;
    this.parkedMax = o.parkedMax ?? 50_000;
    this.sweep = setInterval(() => this.dropIdle(), Math.max(1000, this.idleMs / 4));
    this.sweep.unref();
    serve(transport, FORWARD.start, ({ head, bytes }) => this.start(head, bytes));
    serve(transport, FORWARD.send, ({ head, bytes }) =>
      this.call(head.id, (ex) => this.afterChunk(head.id, ex, bytes, head.done)),
    );
    serve(transport, FORWARD.next, ({ id }) => this.call(id, (ex) => this.part(id, ex)));
    serve(transport, FORWARD.ready, (r) => this.ready(r.caller, r.max, r.waitMs));
    serve(transport, FORWARD.cancel, async ({ id }) => {
      this.exchanges.get(id)?.abandon();
      this.forget(id);
      return { ok: true };
    });
  }

  close(): void {
    clearInterval(this.sweep);
    for (const ex of this.exchanges.values()) ex.abandon();
    this.exchanges.clear();
    this.parked.clear();
    for (const finish of [...this.polls.values()]) finish();
  }

  /** Forwarded exchanges in progress: parked (blocking queries waiting) and the others. */
  counts(): { readonly parked: number; readonly active: number } {
    return { parked: this.parked.size, active: this.exchanges.size - this.parked.size };
  }

  private forget(id: string): void {
    this.exchanges.delete(id);
    this.parked.delete(id);
  }

  private async start(h: ForwardStart, bytes: Uint8Array): Promise<Part> {
    if (this.exchanges.has(h.id)) throw new ForwardError(`exchange ${h.id} exists already`);
    const parkable = h.parkAs !== "" && h.bodyDone;
    const { parked, active } = this.counts();
    if (parkable && parked >= this.parkedMax) {
      throw new ForwardError(`${RATE_EXCEEDED_TEXT}: ${parked} blocking queries parked on this server`);
    }
    if (!parkable && active >= this.exchangesMax) {
      throw new ForwardError(`busy: ${active} forwarded requests in progress`);
    }
    const body = new BodyQueue();
    const ex = new Exchange(body, this.request(h, body), (req) => this.o.answer(req, h.headers));
    this.exchanges.set(h.id, ex);
    if (!parkable) return this.call(h.id, () => this.afterChunk(h.id, ex, bytes, h.bodyDone));
    this.parked.add(h.id);
    return this.call(h.id, () => this.startParked(h.id, h.parkAs, ex, bytes));
  }

  /** A parkable request: its answer if it comes within PARK_GRACE_MS, else `parked` (told later by `ready`). */
  private async startParked(id: string, caller: string, ex: Exchange, bytes: Uint8Array): Promise<Part> {
    void ex.body.push(bytes);
    ex.body.end();
    let timer: NodeJS.Timeout | undefined;
    const soon = await Promise.race([
      ex.answered.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), PARK_GRACE_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (soon) return this.part(id, ex);
    const tell = (): void => this.answeredParked(caller, id);
    ex.answered.then(tell, tell);
    return { head: { head: null, done: false, parked: true }, bytes: new Uint8Array(0) };
  }

  /** A parked exchange has its answer (or its handler failed): its caller's poll learns it. */
  private answeredParked(caller: string, id: string): void {
    const ex = this.exchanges.get(id);
    if (ex === undefined) return;
    // The caller has idleMs from now to pull it.
    ex.lastMs = Date.now();
    const ids = this.readyIds.get(caller);
    if (ids === undefined) this.readyIds.set(caller, [id]);
    else ids.push(id);
    this.polls.get(caller)?.();
  }

  /** `http.ready`: the caller's answered parked exchanges, at once or as soon as one is (within waitMs). */
  private ready(caller: string, max: number, waitMs: number): Promise<{ ids: string[] }> {
    const take = (): { ids: string[] } => {
      const all = (this.readyIds.get(caller) ?? []).filter((id) => this.exchanges.has(id));
      const ids = all.slice(0, Math.max(1, max));
      if (all.length > ids.length) this.readyIds.set(caller, all.slice(ids.length));
      else this.readyIds.delete(caller);
      return { ids };
    };
    if ((this.readyIds.get(caller)?.length ?? 0) > 0) return Promise.resolve(take());
    // One poll per caller: an older one (its connection lost, say) answers empty now.
    this.polls.get(caller)?.();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        if (this.polls.get(caller) === finish) this.polls.delete(caller);
        resolve(take());
      };
      const timer = setTimeout(finish, Math.min(Math.max(0, waitMs), READY_WAIT_MAX_MS));
      this.polls.set(caller, finish);
    });
  }

  /** Runs one call on a live exchange, which is not idle while a call is in progress. */
  private async call(id: string, f: (ex: Exchange) => Promise<Part>): Promise<Part> {
    const ex = this.exchanges.get(id);
    if (ex === undefined) throw new ForwardError(`no exchange ${id} (finished, cancelled or idle too long)`);
    ex.calls++;
    try {
      return await f(ex);
    } catch (e) {
      ex.abandon();
      this.forget(id);
      throw e;
    } finally {
      ex.calls--;
      ex.lastMs = Date.now();
    }
  }

  /**
   * A body chunk arrived: hand it to the handler. The answer's first part when the body is done, or when the
   * handler answered without waiting for the rest (a refusal); else head null: send more.
   */
  private async afterChunk(id: string, ex: Exchange, bytes: Uint8Array, done: boolean): Promise<Part> {
    const taken = ex.body.push(bytes);
    if (done) ex.body.end();
    if (!done) {
      const first = await Promise.race([
        taken.then(() => "taken" as const),
        ex.answered.then(() => "answered" as const),
      ]);
      if (first === "taken")
        return { head: { head: null, done: false, parked: false }, bytes: new Uint8Array(0) };
      ex.body.fail(new ForwardError("answered before the body ended"));
    }
    await ex.answered;
    return this.part(id, ex);
  }

  private async part(id: string, ex: Exchange): Promise<Part> {
    const p = await ex.nextPart();
    if (p.head.done) this.forget(id);
    return p;
  }

  private dropIdle(): void {
    const now = Date.now();
    for (const [id, ex] of this.exchanges) {
      if (ex.calls > 0 || now - ex.lastMs < this.idleMs) continue;
      // A parked exchange still waiting for its answer is the server's wait, not an idle caller's.
      if (this.parked.has(id) && !ex.settled) continue;
      ex.abandon();
      this.forget(id);
    }
    for (const [caller, ids] of this.readyIds) {
      const live = ids.filter((id) => this.exchanges.has(id));
      if (live.length === 0) this.readyIds.delete(caller);
      else this.readyIds.set(caller, live);
    }
  }

  /** The forwarded request as the router reads it; the body comes from the exchange's queue. */
  private request(h: ForwardStart, body: BodyQueue): HttpRequest {
    const headers = new Map(Object.entries(h.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const bodyBytesMax = this.o.bodyBytesMax;
    const declared = headers.get("content-length");
    const tooLarge = (max: number): BodyTooLargeError | null =>
      declared !== undefined && /^[0-9]+$/.test(declared) && Number(declared) > max
        ? new BodyTooLargeError(Number(declared), max)
        : null;
    async function* chunks(max: number): AsyncGenerator<Uint8Array> {
      const refused = tooLarge(max);
      if (refused !== null) throw refused;
      let n = 0;
      for await (const c of body) {
        n += c.length;
        if (n > max) throw new BodyTooLargeError(n, max);
        yield c;
      }
    }
    let whole: Promise<Uint8Array> | null = null;
    return {
      method: h.method,
      path: h.path,
      query: new URLSearchParams(h.query),
      headers: (name) => headers.get(name.toLowerCase()),
      body: (bytesMax = bodyBytesMax) => {
        whole ??= (async () => {
          const parts: Uint8Array[] = [];
          let n = 0;
          for await (const c of chunks(Math.min(bytesMax, bodyBytesMax))) {
            parts.push(c);
            n += c.length;
          }
          return concat(parts, n);
        })();
        return whole;
      },
      stream: (bytesMax = Number.POSITIVE_INFINITY) => chunks(bytesMax),
    };
  }
}
