/**
 * Seeded pseudo-random numbers. Everything random in raft/ and sim/ draws from an Rng so a run is replayable
 * from its seed. xoshiro128** seeded through splitmix32: fast, 2^128-1 period, good enough for simulation.
 */
export interface Rng {
  /** A uniform integer in [0, 2^32). */
  nextU32(): number;
  /** A uniform integer in [lo, hi). Invariant: lo < hi, both safe integers. */
  int(lo: number, hi: number): number;
  /** A uniform float in [0, 1). */
  float(): number;
  /** true with probability p. */
  chance(p: number): boolean;
  /** A new independent generator derived from this one (for per-node streams). */
  fork(): Rng;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class SeededRng implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // Fold seeds beyond 32 bits so distinct large seeds stay distinct.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 0x100000000) >>> 0;
    const next = splitmix32(lo ^ Math.imul(hi, 0x9e3779b1));
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  int(lo: number, hi: number): number {
    if (!(lo < hi)) throw new RangeError(`rng.int needs lo < hi, got [${lo}, ${hi})`);
    return lo + Math.floor(this.float() * (hi - lo));
  }

  float(): number {
    // 53 random bits for a full-precision double.
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  fork(): Rng {
    return new SeededRng(this.nextU32() * 0x100000000 + this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
