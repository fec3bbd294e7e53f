/**
 * Frames for one socket gathered over an event-loop turn and written with one syscall. Answers to forwarded
 * writes settle in bursts (a commit applies a batch of entries, each settling its caller), and a write per
 * answer costs a syscall here and a wakeup on the other side for each.
 */
import type { Socket } from "node:net";

/** Writes `frames` (`bytes` in all) to `socket` in one call: the one buffer itself, or one joined copy. */
export function writeFrames(socket: Socket, frames: readonly Uint8Array[], bytes: number): void {
  if (frames.length === 0) return;
  socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames, bytes));
}

export class TurnWriter {
  private frames: Uint8Array[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly socket: Socket) {}

  /** Queues `frame` for the write at the end of this turn; dropped if the socket is gone by then. */
  write(frame: Uint8Array): void {
    this.frames.push(frame);
    this.bytes += frame.length;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    const frames = this.frames;
    const bytes = this.bytes;
    this.frames = [];
    this.bytes = 0;
    this.scheduled = false;
    if (!this.socket.destroyed && !this.socket.writableEnded) writeFrames(this.socket, frames, bytes);
  }
}
