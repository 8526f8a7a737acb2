/**
 * Seeded determinism for the planner: a 32-bit string hash (FNV-1a, then a murmur3 finalizer). The planner never uses `Math.random`; every choice that is not decided by the input is
 * derived from `options.seed` and stable names (service, node, port), so the same input gives the same plan.
 */

/** FNV-1a over the UTF-16 code units of `text`, mixed with `seed`, finished with murmur3's avalanche. */
export function hash32(seed: number, text: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A start index in `[0, size)` for a linear probe, derived from seed and key. */
export function pickStart(seed: number, key: string, size: number): number {
  if (size <= 0) return 0;
  return hash32(seed, key) % size;
}
