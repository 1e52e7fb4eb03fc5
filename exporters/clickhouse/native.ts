/**
 * Column builders for ClickHouse's Native format, the format our INSERTs carry. Native is columnar and carries
 * LowCardinality columns as a dictionary plus indexes, so ClickHouse reads it without per-row parsing: in
 * `npm run bench:insert` it is ~9x cheaper to read than RowBinary for otel_logs rows, whose Map(LowCardinality
 * (String), String) attributes RowBinary makes ClickHouse hash key by key. It is cheaper to write in JS too:
 * attribute keys and other repeated strings are encoded once per block instead of once per row.
 *
 * Layout of one block: varint column count, varint row count, then per column its name, its type, the
 * serialization prefix of its streams (LowCardinality: keys version 1) and its data. Data per type:
 * String = varint length + UTF-8 per row; UInt8 / Int64 = fixed-width little-endian; Array and Map = UInt64
 * cumulative end offsets, then the flattened elements (a Map's keys column, then its values column);
 * LowCardinality(String) = UInt64 flags (index width | has additional keys | dictionary update), UInt64 key
 * count, the keys as a String column (index 0 is the default value ''), UInt64 row count, one index per row.
 * A nested column with no rows writes nothing after its prefix. Blocks can be concatenated into one stream.
 */
import { BinaryWriter } from './binary-writer.ts';

/** A column filled row by row, then written in Native layout. Builders are reused: `reset` empties them. */
export interface NativeColumn {
  /** The ClickHouse type, as the block header and the INSERT's structure name it. */
  readonly type: string;
  /** Serialization state prefix, written before the data of every column's streams. */
  prefix(out: BinaryWriter): void;
  data(out: BinaryWriter): void;
  reset(): void;
}

/** A column whose data is one stream written value by value (String, fixed-width numbers). */
abstract class StreamColumn implements NativeColumn {
  abstract readonly type: string;
  protected readonly w: BinaryWriter;
  constructor(initialSize: number) {
    this.w = new BinaryWriter(initialSize);
  }
  prefix(): void {}
  data(out: BinaryWriter): void {
    out.bytes(this.w.view());
  }
  reset(): void {
    this.w.pos = 0;
  }
}

export class StringColumn extends StreamColumn {
  readonly type = 'String';
  constructor() {
    super(16 * 1024);
  }
  push(s: string): void {
    this.w.str(s);
  }
}

export class UInt8Column extends StreamColumn {
  readonly type = 'UInt8';
  constructor() {
    super(1024);
  }
  push(v: number): void {
    this.w.u8(v);
  }
}

/** Int64 / UInt64 below 2^63 / DateTime64 ticks. */
export class Int64Column extends StreamColumn {
  constructor(readonly type: 'DateTime64(9)' | 'UInt64' | 'Int64') {
    super(8 * 1024);
  }
  push(v: bigint): void {
    this.w.i64(v);
  }
}

const LC_KEYS_VERSION_SHARED_DICTIONARIES = 1;
const LC_HAS_ADDITIONAL_KEYS = 1 << 9;
const LC_NEED_UPDATE_DICTIONARY = 1 << 10;

export class LowCardinalityStringColumn implements NativeColumn {
  readonly type = 'LowCardinality(String)';
  private readonly dict = new Map<string, number>();
  private readonly keys = new BinaryWriter(4 * 1024);
  private indexes = new Uint32Array(1024);
  private rows = 0;

  constructor() {
    this.reset();
  }

  push(s: string): void {
    let i = this.dict.get(s);
    if (i === undefined) {
      i = this.dict.size;
      this.dict.set(s, i);
      this.keys.str(s);
    }
    if (this.rows === this.indexes.length) {
      const next = new Uint32Array(this.rows * 2);
      next.set(this.indexes);
      this.indexes = next;
    }
    this.indexes[this.rows++] = i;
  }

  prefix(out: BinaryWriter): void {
    out.u64(LC_KEYS_VERSION_SHARED_DICTIONARIES);
  }

  data(out: BinaryWriter): void {
    const n = this.rows;
    if (n === 0) return;
    const size = this.dict.size;
    const width = size <= 0x100 ? 0 : size <= 0x10000 ? 1 : 2;
    out.u64(width | LC_HAS_ADDITIONAL_KEYS | LC_NEED_UPDATE_DICTIONARY);
    out.u64(size);
    out.bytes(this.keys.view());
    out.u64(n);
    const idx = this.indexes;
    if (width === 0) {
      out.ensure(n);
      for (let i = 0; i < n; i++) out.buf[out.pos++] = idx[i];
    } else if (width === 1) {
      out.ensure(2 * n);
      for (let i = 0; i < n; i++) {
        out.buf.writeUInt16LE(idx[i], out.pos);
        out.pos += 2;
      }
    } else {
      out.ensure(4 * n);
      for (let i = 0; i < n; i++) {
        out.buf.writeUInt32LE(idx[i], out.pos);
        out.pos += 4;
      }
    }
  }

  reset(): void {
    this.dict.clear();
    this.keys.pos = 0;
    this.dict.set('', 0);
    this.keys.str('');
    this.rows = 0;
  }
}

/** The UInt64 cumulative end offsets of Array and Map columns (a Map is an array of key/value pairs). */
class Offsets {
  private readonly w = new BinaryWriter(8 * 1024);
  private total = 0;
  /** Ends a row that holds `count` elements. */
  end(count: number): void {
    this.total += count;
    this.w.u64(this.total);
  }
  data(out: BinaryWriter): void {
    out.bytes(this.w.view());
  }
  reset(): void {
    this.w.pos = 0;
    this.total = 0;
  }
}

/** Array(T): push the row's elements into `inner`, then `endRow(count)`. */
export class ArrayColumn<T extends NativeColumn> implements NativeColumn {
  private readonly offsets = new Offsets();
  readonly type: string;
  constructor(readonly inner: T) {
    this.type = `Array(${inner.type})`;
  }
  endRow(count: number): void {
    this.offsets.end(count);
  }
  prefix(out: BinaryWriter): void {
    this.inner.prefix(out);
  }
  data(out: BinaryWriter): void {
    this.offsets.data(out);
    this.inner.data(out);
  }
  reset(): void {
    this.offsets.reset();
    this.inner.reset();
  }
}

/** Map(LowCardinality(String), String) from plain objects. */
export class AttributesColumn implements NativeColumn {
  readonly type = 'Map(LowCardinality(String), String)';
  private readonly offsets = new Offsets();
  private readonly keys = new LowCardinalityStringColumn();
  private readonly values = new StringColumn();
  push(m: Readonly<Record<string, string>>): void {
    let count = 0;
    for (const k in m) {
      this.keys.push(k);
      this.values.push(m[k]);
      count++;
    }
    this.offsets.end(count);
  }
  prefix(out: BinaryWriter): void {
    this.keys.prefix(out);
  }
  data(out: BinaryWriter): void {
    this.offsets.data(out);
    this.keys.data(out);
    this.values.data(out);
  }
  reset(): void {
    this.offsets.reset();
    this.keys.reset();
    this.values.reset();
  }
}

/** Column name → builder, in INSERT order. */
export type NativeColumns = Readonly<Record<string, NativeColumn>>;

export interface TableFormat {
  /** `(col, col, …)` for the INSERT. */
  readonly columns: string;
  /** `col Type, …` of the Native payload (the table's own types). */
  readonly structure: string;
}

/** The INSERT's column list and the payload structure for a set of columns. */
export function insertFormat(columns: NativeColumns): TableFormat {
  const names = Object.keys(columns);
  return { columns: `(${names.join(', ')})`, structure: names.map((n) => `\`${n}\` ${columns[n].type}`).join(', ') };
}

/** The rows pushed into `columns` since the last call, as one new Buffer; the builders are emptied. */
export function takeBlock(columns: NativeColumns, rows: number, out: BinaryWriter): Buffer {
  const names = Object.keys(columns);
  out.pos = 0;
  out.varint(names.length);
  out.varint(rows);
  for (const name of names) {
    const column = columns[name];
    out.str(name);
    out.str(column.type);
    column.prefix(out);
    column.data(out);
    column.reset();
  }
  return Buffer.from(out.view());
}
