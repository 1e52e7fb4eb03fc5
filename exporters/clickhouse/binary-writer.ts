/**
 * A growable little-endian byte writer for the Native blocks our INSERTs carry (see native.ts): varints,
 * fixed-width integers and length-prefixed UTF-8 strings, written into one reused buffer.
 */

export class BinaryWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialSize = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private grow(needed: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + needed) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  /** UInt64 little-endian from a safe integer (offsets, counts, flags). */
  u64(v: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(v % 0x1_0000_0000, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.pos + 4);
    this.pos += 8;
  }

  /** Int64 little-endian (DateTime64 ticks, UInt64 values below 2^63). */
  i64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(v, this.pos);
    this.pos += 8;
  }

  str(s: string): void {
    const n = s.length;
    if (n === 0) {
      this.u8(0);
      return;
    }
    // Short strings: copied char by char while they are ASCII, which beats the native UTF-8 call for the
    // ids, names and values most attributes hold; the first non-ASCII char falls back to the native encoder.
    if (n <= 32) {
      this.ensure(1 + n * 3);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      const written = i === n ? n : buf.write(s, start, 'utf8');
      buf[this.pos] = written; // at most 96 bytes: a one-byte varint
      this.pos = start + written;
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** The bytes written so far, as a view (no copy). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
