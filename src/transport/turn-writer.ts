/**
 * Frames for one socket gathered over an event-loop turn and written with one syscall. Answers to forwarded
 * writes settle in bursts (a commit applies a batch of entries, each settling its caller), and a write per
 * answer costs a syscall here and a wakeup on the other side for each.
 */
import type { Socket } from "node:net";

/**
 * Past this many bytes a turn's frames are not joined: a copy of two 4 MiB blob chunks is 8 MiB of array buffer
 * per turn per peer, the bulk of a restore's peak RSS on the leader serving them (issue 14 target 5).
 */
const JOIN_BYTES_MAX = 256 * 1024;

/**
 * Writes `frames` (`bytes` in all) to `socket` in one syscall: the one buffer itself, one joined copy of small
 * frames, or (large frames) one writev of them as they are, gathered by cork/uncork.
 */
export function writeFrames(socket: Socket, frames: readonly Uint8Array[], bytes: number): void {
  if (frames.length === 0) return;
  if (frames.length === 1) socket.write(frames[0]!);
  else if (bytes <= JOIN_BYTES_MAX) socket.write(Buffer.concat(frames, bytes));
  else {
    socket.cork();
    for (const f of frames) socket.write(f);
    socket.uncork();
  }
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
