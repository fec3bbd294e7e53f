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
 * Writes `buffers` (`bytes` in all: whole frames, or the parts of frames in order) to `socket` in one syscall:
 * the one buffer itself, one joined copy of small buffers, or (large ones) one writev of them as they are,
 * gathered by cork/uncork. `written` runs once the socket no longer reads any of them (they were copied, or
 * handed to the kernel, or the socket failed), never synchronously inside a write that keeps them.
 */
export function writeFrames(
  socket: Socket,
  buffers: readonly Uint8Array[],
  bytes: number,
  written?: () => void,
): void {
  if (buffers.length === 0) {
    written?.();
    return;
  }
  // Node calls a write's callback when the bytes have left the stream's buffer (libuv's write finished, or the
  // socket failed or was destroyed); the callbacks of one cork run in order, so the last is the whole batch's.
  if (buffers.length === 1) socket.write(buffers[0]!, written);
  else if (bytes <= JOIN_BYTES_MAX) {
    socket.write(Buffer.concat(buffers, bytes));
    written?.();
  } else {
    socket.cork();
    const last = buffers.length - 1;
    for (const [i, b] of buffers.entries()) socket.write(b, i === last ? written : undefined);
    socket.uncork();
  }
}

export class TurnWriter {
  private buffers: Uint8Array[] = [];
  private bytes = 0;
  private written: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly socket: Socket) {}

  /**
   * Queues one frame, whole or in parts (a header and a body not copied behind it), for the write at the end of
   * this turn; dropped if the socket is gone by then. `written` runs once the socket is done with the frame's
   * bytes (after the write, or the drop): until then the caller must not change or reuse them.
   */
  write(frame: Uint8Array | readonly Uint8Array[], written?: () => void): void {
    if (frame instanceof Uint8Array) this.add(frame);
    else for (const part of frame) this.add(part);
    if (written !== undefined) this.written.push(written);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private add(buffer: Uint8Array): void {
    this.buffers.push(buffer);
    this.bytes += buffer.length;
  }

  private flush(): void {
    const { buffers, bytes, written } = this;
    this.buffers = [];
    this.bytes = 0;
    this.written = [];
    this.scheduled = false;
    const done =
      written.length === 0
        ? undefined
        : () => {
            for (const w of written) w();
          };
    if (!this.socket.destroyed && !this.socket.writableEnded) writeFrames(this.socket, buffers, bytes, done);
    else done?.();
  }
}
