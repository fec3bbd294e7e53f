export { AssertionError, assert, unreachable } from "./assert.js";
export {
  CairnError,
  CompactedError,
  errorText,
  NotLeaderError,
  ProposalDroppedError,
  UnavailableError,
} from "./errors.js";
export { fnv1a, fnv1aBytes } from "./hash.js";
export { type Rng, SeededRng } from "./rng.js";
export { VERSION } from "./version.js";
