/**
 * An archive's bytes handed on (to an upload) while the same bytes are verified on the side with every check
 * of verifyArchive: the file is read once, and the verification overlaps the transfer instead of preceding it
 * (`cairn snapshot restore`). Two holds keep what a verification first gave: nothing is handed on before the
 * verifier has read the first tar entry's header (a file that is no archive at all goes nowhere), and the last
 * chunk only once the whole archive has verified, so a receiver that got every byte got a verified archive.
 * When verification fails the iteration throws and the receiver is left with a cut archive, which it must
 * refuse: a server's restore verifies what it receives before it changes anything.
 */
import { PassThrough } from "node:stream";
import { type ReadArchiveOptions, verifyArchive } from "./archive-read.js";
import type { SnapshotMeta } from "./meta.js";

/** How far the verifier may lag behind the bytes handed on before the source waits for it. */
const VERIFY_LAG_BYTES = 4 * 1024 * 1024;

/** Writes to the verifier, waiting while it is behind; resolves at once when it has stopped. */
export async function feedVerifier(tee: PassThrough, chunk: Uint8Array): Promise<void> {
  if (tee.destroyed || tee.writableEnded) return;
  if (tee.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const go = () => {
      tee.off("drain", go);
      tee.off("close", go);
      resolve();
    };
    tee.on("drain", go);
    tee.on("close", go);
  });
}

/** Polls of the verifier's progress before the first entry's header, and their interval. */
const DRAIN_POLLS_MAX = 5000;
const DRAIN_POLL_MS = 2;

/**
 * Resolves once `tee` has been read empty (the verifier took all it was given) or has closed, or after
 * DRAIN_POLLS_MAX polls (10 s; the caller then feeds on). Polled: a 'data' listener would take the stream's
 * bytes away from the verifier's pipe.
 */
async function drained(tee: PassThrough): Promise<void> {
  for (let i = 0; i < DRAIN_POLLS_MAX && tee.readableLength > 0 && !tee.destroyed; i++) {
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  }
}

type Outcome = { readonly meta: SnapshotMeta } | { readonly error: unknown };

export class VerifyingPass {
  /** The verification's error once it has failed, else null: tells a cut upload's cause from the receiver's. */
  failure: unknown = null;
  private readonly tee = new PassThrough({ highWaterMark: VERIFY_LAG_BYTES });
  private readonly outcome: Promise<Outcome>;
  private readonly firstEntry: Promise<void>;
  private entered = false;
  /** Set when the consumer stops early: the verifier's failure that follows is ours, not the archive's. */
  private abandoned = false;

  constructor(
    private readonly source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: ReadArchiveOptions = {},
  ) {
    let entered = () => {};
    this.firstEntry = new Promise((resolve) => {
      entered = resolve;
    });
    const onEntry = (name: string) => {
      this.entered = true;
      entered();
      options.onEntry?.(name);
    };
    this.outcome = verifyArchive(this.tee, { ...options, onEntry }).then(
      (meta) => ({ meta }),
      (error: unknown) => {
        if (!this.abandoned) this.failure = error;
        this.tee.destroy(); // a source waiting to feed a verifier that has given up goes on
        return { error };
      },
    );
  }

  /** The archive's bytes as verified so far (see the file's comment); throws the verification's error. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    let held: Uint8Array[] = [];
    const settled = this.outcome.then(() => {});
    let ended = false;
    try {
      for await (const chunk of this.source) {
        await feedVerifier(this.tee, chunk);
        if (this.failure !== null) throw this.failure;
        held.push(chunk);
        if (!this.entered) {
          // Held until the verifier has read an entry's header, or has taken all it was given without one.
          await Promise.race([this.firstEntry, settled, drained(this.tee)]);
          if (this.failure !== null) throw this.failure;
          if (!this.entered) continue;
        }
        // Everything but the newest chunk goes on: that one waits for the end of the verification.
        for (const c of held.slice(0, -1)) yield c;
        held = held.slice(-1);
      }
      this.tee.end();
      ended = true;
      const end = await this.outcome;
      if ("error" in end) throw end.error;
      for (const c of held) yield c;
    } finally {
      if (!ended) {
        // The consumer stopped early or the source failed: end the verification still waiting for bytes.
        this.abandoned = this.failure === null;
        this.tee.destroy();
      }
      await this.outcome;
    }
  }

  /** The archive's meta once it has verified completely; rejects with the verification's error. */
  async verified(): Promise<SnapshotMeta> {
    const end = await this.outcome;
    if ("error" in end) throw end.error;
    return end.meta;
  }
}
