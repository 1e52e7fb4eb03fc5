/**
 * The reading side of binary-writer.ts, for what the write path reads back from ClickHouse (a landing slot's
 * blocks as RowBinary): LEB128 lengths and length-prefixed bytes. Every read is bounds-checked: a short or
 * malformed result throws, never reads past the buffer.
 */

export class BinaryReader {
  pos = 0;
  readonly len: number;

  constructor(readonly buf: Buffer) {
    this.len = buf.length;
  }

  /** An unsigned LEB128 varint of at most 53 bits (a length). */
  varint(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.len) throw new RangeError('truncated varint');
      if (shift > 49) throw new RangeError('varint longer than 53 bits');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
    }
  }

  /** A length-prefixed byte string (a RowBinary String), as a view into the buffer. */
  bytes(): Buffer {
    const n = this.varint();
    if (n > this.len - this.pos) throw new RangeError(`string of ${n} bytes runs past the end (${this.len - this.pos} left)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
