/**
 * A minimal protobuf wire reader for the OTLP hot path. `@bufbuild/protobuf`'s BinaryReader is correct but
 * allocates a tuple per tag and decodes strings in JS; this one returns tags as numbers (so decoders switch on
 * `field << 3 | wireType` and a wrong wire type falls through to an error), decodes strings with Node's native
 * UTF-8 decoder and reads 64-bit integers without BigInt when they fit in a double. Every read is bounds-checked:
 * a truncated or malformed body throws DecodeError, never reads past the buffer.
 */
import { DecodeError } from './common.ts';

export const VARINT = 0;
export const FIXED64 = 1;
export const LEN = 2;
export const FIXED32 = 5;

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

/**
 * Interned strings for `internedString`: attribute keys repeat in every record, so the bytes are hashed and, when
 * they match the cached copy, the same string is returned. Besides skipping the UTF-8 decode and the garbage,
 * a reused string keeps its hash, so using it as a property name or Map key costs no rehashing downstream.
 */
const INTERN_SLOTS = 1024;
const INTERN_MAX_BYTES = 64;
const internBytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX_BYTES);
const internLength = new Int32Array(INTERN_SLOTS).fill(-1);
const internStrings: string[] = new Array<string>(INTERN_SLOTS).fill('');

export class WireReader {
  readonly buf: Buffer;
  pos = 0;
  readonly len: number;

  constructor(bytes: Uint8Array) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.len = this.buf.length;
  }

  private eof(): never {
    throw new DecodeError('truncated message: unexpected end of body');
  }

  /** A varint that must fit in 32 bits (tags, lengths, enums, int32, bool). */
  uint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= this.len) this.eof();
      const b = buf[pos++];
      if (shift < 28) result |= (b & 0x7f) << shift;
      else if (shift === 28) result += (b & 0x7f) * 2 ** 28;
      if (b < 0x80) break;
      shift += 7;
      if (shift > 63) throw new DecodeError('malformed varint: longer than 10 bytes');
    }
    this.pos = pos;
    return result >>> 0 === result ? result : result % 2 ** 32;
  }

  /** int32 as sent by proto3 (negative values are 10-byte varints). */
  int32(): number {
    return this.uint32() | 0;
  }

  /** An int64 varint as decimal text; exact for the full range. */
  int64Text(): string {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.len) this.eof();
      const b = this.buf[this.pos++];
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) break;
      shift += 7;
      if (shift > 63) throw new DecodeError('malformed varint: longer than 10 bytes');
    }
    lo >>>= 0;
    hi >>>= 0;
    // Below 2^53 the double is exact; negative or huge values go through BigInt.
    if (hi < 0x200000) return String(hi * 4294967296 + lo);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
  }

  bool(): boolean {
    return this.uint32() !== 0;
  }

  fixed64(): bigint {
    if (this.pos + 8 > this.len) this.eof();
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    if (this.pos + 4 > this.len) this.eof();
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.len) this.eof();
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** End offset of the length-delimited field starting here. */
  end(): number {
    const n = this.uint32();
    const end = this.pos + n;
    if (end > this.len) throw new DecodeError('truncated message: a length-delimited field runs past the end of the body');
    return end;
  }

  string(): string {
    const end = this.end();
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  /** Like `string`, for short strings that repeat (attribute keys): returns a cached copy when the bytes match. */
  internedString(): string {
    const end = this.end();
    const start = this.pos;
    const n = end - start;
    const buf = this.buf;
    if (n > INTERN_MAX_BYTES) {
      this.pos = end;
      return buf.toString('utf8', start, end);
    }
    if (n === 0) {
      this.pos = end;
      return '';
    }
    // Slot from the length and three bytes: a collision only costs a decode, the full compare decides.
    const h = Math.imul(n, 0x9e3779b1) ^ Math.imul(buf[start] | (buf[end - 1] << 8) | (buf[start + (n >> 1)] << 16), 0x85ebca6b);
    const slot = (h ^ (h >>> 16)) & (INTERN_SLOTS - 1);
    const base = slot * INTERN_MAX_BYTES;
    this.pos = end;
    if (internLength[slot] === n) {
      let i = 0;
      while (i < n && internBytes[base + i] === buf[start + i]) i++;
      if (i === n) return internStrings[slot];
    }
    const s = buf.toString('utf8', start, end);
    internBytes.set(buf.subarray(start, end), base);
    internLength[slot] = n;
    internStrings[slot] = s;
    return s;
  }

  bytes(): Buffer {
    const end = this.end();
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }

  /** Skips a field of an unknown number; a known number with the wrong wire type is an error. */
  skip(tag: number, known?: string): void {
    const wt = tag & 7;
    if (known !== undefined) {
      throw new DecodeError(`field ${known} has wire type ${WIRE_NAMES[wt] ?? wt}, which does not match its type`);
    }
    switch (wt) {
      case VARINT:
        this.int64Text();
        return;
      case FIXED64:
        if ((this.pos += 8) > this.len) this.eof();
        return;
      case LEN:
        this.pos = this.end();
        return;
      case FIXED32:
        if ((this.pos += 4) > this.len) this.eof();
        return;
      default:
        throw new DecodeError(`malformed protobuf: unsupported wire type ${WIRE_NAMES[wt] ?? wt} (field ${tag >>> 3})`);
    }
  }

  /** Confirms a message ended exactly at its declared end. */
  close(end: number): void {
    if (this.pos !== end) throw new DecodeError('truncated or malformed message: field data does not match the declared length');
  }
}
