// A small seeded random generator for the soak (mulberry32), so a run is replayed from its seed.

/** Seeded randomness: numbers, integers, picks and loopback addresses. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A fresh 32-bit seed for a sub-generator. */
  seed(): number;
}

/** A generator from a 32-bit seed. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    chance: (p) => next() < p,
    seed: () => Math.floor(next() * 4294967296) >>> 0,
  };
}

/** A loopback address 127.`block`.y.z (y, z random; never 127.0.0.1 since block > 0). */
export function loopbackAddress(random: Random, block: number): string {
  return `127.${block}.${random.int(0, 255)}.${random.int(1, 254)}`;
}
