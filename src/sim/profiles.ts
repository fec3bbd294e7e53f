import type { SimOptions } from "./options.js";

/**
 * Leaders paused and cut off while a new leader takes writes: one key, many clients, three servers, the lease on
 * (it needs check-quorum). The cut lasts (healRate low), so on resume the old leader hears of no new leader and
 * only its own clock can end its lease; other faults and the admin off (its transfers and changes move the
 * leadership the pauses aim at), so the pauses decide the schedule. The profile that catches a lease whose clock
 * stops with the process (variants.test.ts), and that the shipped clock must pass (sim.test.ts).
 */
export const PAUSED_LEADERS: Partial<SimOptions> = {
  pauseRate: 0.02,
  pauseMaxUs: 1_500_000,
  keys: 1,
  clients: 6,
  voters: 3,
  checkQuorum: true,
  partitionRate: 0,
  healRate: 0.002,
  crashRate: 0,
  leaderCrashRate: 0,
  dropRate: 0,
  confChangeRate: 0,
  transferRate: 0,
};
