/**
 * The set of event ids dedupe remembers, kept out of the JS heap's object graph: each id is a 96-bit hash in an
 * open-addressing table (linear probing, backward-shift deletion) over a Uint32Array, and a FIFO ring of the same
 * hashes with their arrival times says which id to forget next. A remembered id therefore costs 50–100 bytes
 * in typed arrays that the garbage collector never traverses, instead of a string, an entry object and a
 * Map slot per id (~206 bytes, all of it marked on every major GC, which dominated ingest CPU at high rates).
 *
 * Each id also carries its owner: 0 once committed, else the number of the in-flight batch that carries it.
 *
 * Hash collisions: two different ids of one tenant collide with probability ~2^-96 per pair; with a million ids
 * remembered, a new id is mistaken for a remembered one about once in 10^22 events.
 */

/** Hash lanes of the last `hashId` call. */
let h1 = 0;
let h2 = 0;
let h3 = 0;
let h4 = 0;

/** Lane states after hashing a prefix (the tenant), so each id continues from there. */
export interface HashPrefix {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

function mixChars(s: string, a: number, b: number, c: number, d: number): void {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    a = Math.imul(a ^ ch, 0x85ebca77);
    b = Math.imul(b ^ ch, 0xc2b2ae3d);
    c = Math.imul(c ^ ch, 0x27d4eb2f);
    d = Math.imul(d ^ ch, 0x165667b1);
  }
  h1 = a;
  h2 = b;
  h3 = c;
  h4 = d;
}

export function hashPrefix(prefix: string): HashPrefix {
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  mixChars(`${prefix}\0`, 0x9e3779b9, 0x7f4a7c15, 0x94d049bb, 0xbf58476d);
  return { a: h1, b: h2, c: h3, d: h4 };
}

/** Final avalanche of each lane, each mixed with a neighbour so the lanes do not fail together. */
function finish(len: number): void {
  const a = h1 ^ len;
  const b = h2 ^ len;
  h1 = Math.imul(a ^ (a >>> 16), 0x85ebca6b) ^ Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  h2 = Math.imul(b ^ (b >>> 16), 0x27d4eb2f) ^ Math.imul(h3 ^ (h3 >>> 13), 0x165667b1);
  h3 = Math.imul(h3 ^ (h3 >>> 16), 0x9e3779b1) ^ Math.imul(h4 ^ (h4 >>> 13), 0x85ebca77);
  h4 = Math.imul(h4 ^ (h4 >>> 16), 0xc2b2ae3d) ^ Math.imul(a ^ (a >>> 13), 0x27d4eb2f);
  h1 ^= h1 >>> 15;
  h2 ^= h2 >>> 15;
  h3 ^= h3 >>> 15;
  h4 ^= h4 >>> 15;
}

/** Hashes `s` after `prefix` into the current lanes (read with `lanes()` or used by IdWindow). */
export function hashId(prefix: HashPrefix, s: string): void {
  mixChars(s, prefix.a, prefix.b, prefix.c, prefix.d);
  finish(s.length);
}

/** Stores the lanes of the last hash as entry `i` of `into` (3 lanes per entry). */
export function saveHash(into: Uint32Array, i: number): void {
  into[i * 3] = h1;
  into[i * 3 + 1] = h2;
  into[i * 3 + 2] = h3;
}

/** Makes entry `i` of `from` the current hash again. */
export function loadHash(from: Uint32Array, i: number): void {
  h1 = from[i * 3];
  h2 = from[i * 3 + 1];
  h3 = from[i * 3 + 2];
}

/** 128-bit hex digest of a string: the id of events that carry none (see dedupe's content id). */
export function hash128Hex(s: string): string {
  mixChars(s, 0x9e3779b9, 0x7f4a7c15, 0x94d049bb, 0xbf58476d);
  finish(s.length);
  return [h1, h2, h3, h4].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
}

const STRIDE = 5; // h1, h2, h3, owner, seq
const MIN_SLOTS = 1 << 12;

export class IdWindow {
  /** Slots: [h1, h2, h3 | 1, owner, seq]; h3 = 0 marks an empty slot. */
  private table = new Uint32Array(MIN_SLOTS * STRIDE);
  private mask = MIN_SLOTS - 1;
  private used = 0;
  /** FIFO ring of remembered hashes with their arrival time; `head`/`tail` count insertions since start. */
  private ringHash = new Uint32Array(MIN_SLOTS * 3);
  private ringAt = new Float64Array(MIN_SLOTS);
  private head = 0;
  private tail = 0;

  /** Ids remembered. */
  get size(): number {
    return this.used;
  }

  /** Bytes held by the typed arrays. */
  get bytes(): number {
    return this.table.byteLength + this.ringHash.byteLength + this.ringAt.byteLength;
  }

  /** Slot of the id last hashed with `hashId`, or -1. */
  find(): number {
    const a = h1 >>> 0;
    const b = h2 >>> 0;
    const c = (h3 | 1) >>> 0;
    const t = this.table;
    for (let i = a & this.mask; ; i = (i + 1) & this.mask) {
      const o = i * STRIDE;
      if (t[o + 2] === 0) return -1;
      if (t[o] === a && t[o + 1] === b && t[o + 2] === c) return i;
    }
  }

  owner(slot: number): number {
    return this.table[slot * STRIDE + 3];
  }

  setOwner(slot: number, owner: number): void {
    this.table[slot * STRIDE + 3] = owner;
  }

  /** Remembers the id last hashed (not already present) at time `at` (ms). */
  add(owner: number, at: number): void {
    // Grow at 70% load: linear probing stays short, and memory stays at 50–100 bytes per id with the ring.
    if ((this.used + 1) * 10 > (this.mask + 1) * 7) this.rehash((this.mask + 1) * 2);
    const seq = this.tail;
    this.place(h1 >>> 0, h2 >>> 0, (h3 | 1) >>> 0, owner, seq >>> 0);
    this.used++;
    const size = this.ringAt.length;
    if (this.tail - this.head === size) this.growRing(size * 2);
    const r = seq & (this.ringAt.length - 1);
    this.ringHash[r * 3] = h1;
    this.ringHash[r * 3 + 1] = h2;
    this.ringHash[r * 3 + 2] = h3 | 1;
    this.ringAt[r] = at;
    this.tail++;
  }

  /** Forgets the id in `slot` now (its batch failed); its ring entry is skipped when it comes up. */
  remove(slot: number): void {
    const t = this.table;
    let i = slot;
    for (let j = (i + 1) & this.mask; t[j * STRIDE + 2] !== 0; j = (j + 1) & this.mask) {
      const home = t[j * STRIDE] & this.mask;
      // Move j back into the hole at i unless its home lies cyclically in (i, j].
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        t.copyWithin(i * STRIDE, j * STRIDE, j * STRIDE + STRIDE);
        i = j;
      }
    }
    t.fill(0, i * STRIDE, i * STRIDE + STRIDE);
    this.used--;
  }

  /**
   * Forgets, oldest first, ids older than `oldest` (ms) or beyond `maxIds`, stopping at the first one still owned
   * by an in-flight batch (an undecided commit is never forgotten).
   */
  evict(oldest: number, maxIds: number): void {
    const ringMask = this.ringAt.length - 1;
    while (this.head < this.tail) {
      const r = this.head & ringMask;
      if (this.ringAt[r] >= oldest && this.used <= maxIds) return;
      h1 = this.ringHash[r * 3];
      h2 = this.ringHash[r * 3 + 1];
      h3 = this.ringHash[r * 3 + 2];
      const slot = this.find();
      if (slot >= 0 && this.table[slot * STRIDE + 4] === this.head >>> 0) {
        if (this.table[slot * STRIDE + 3] !== 0) return;
        this.remove(slot);
      }
      this.head++;
    }
  }

  private place(a: number, b: number, c: number, owner: number, seq: number): void {
    const t = this.table;
    let i = a & this.mask;
    while (t[i * STRIDE + 2] !== 0) i = (i + 1) & this.mask;
    const o = i * STRIDE;
    t[o] = a;
    t[o + 1] = b;
    t[o + 2] = c;
    t[o + 3] = owner;
    t[o + 4] = seq;
  }

  private rehash(slots: number): void {
    const old = this.table;
    this.table = new Uint32Array(slots * STRIDE);
    this.mask = slots - 1;
    for (let o = 0; o < old.length; o += STRIDE) {
      if (old[o + 2] !== 0) this.place(old[o], old[o + 1], old[o + 2], old[o + 3], old[o + 4]);
    }
  }

  private growRing(size: number): void {
    const oldHash = this.ringHash;
    const oldAt = this.ringAt;
    const oldMask = oldAt.length - 1;
    this.ringHash = new Uint32Array(size * 3);
    this.ringAt = new Float64Array(size);
    for (let s = this.head; s < this.tail; s++) {
      const from = s & oldMask;
      const to = s & (size - 1);
      this.ringHash.set(oldHash.subarray(from * 3, from * 3 + 3), to * 3);
      this.ringAt[to] = oldAt[from];
    }
  }
}
