/**
 * The analytics service's ingest messages (`analytics.v1`, the service's .proto), decoded by the OTLP
 * receiver's bounds-checked wire reader and encoded with the protobuf writer, by hand like the OTLP codecs:
 *
 *   TrackEventRequest { string event_name = 1; string user_id = 2; map<string, PropertyValue> properties = 3; int64 timestamp = 4; }
 *   IdentifyUserRequest { string user_id = 1; map<string, PropertyValue> properties = 2; }
 *   PropertyValue { oneof value { string string_value = 1; double number_value = 2; bool bool_value = 3; } }
 *   TrackEventResponse { bool success = 1; string event_id = 2; }  IdentifyUserResponse { bool success = 1; }
 *   HealthCheckRequest {}  HealthCheckResponse { string status = 1; }
 *
 * A map entry is a message { key = 1; value = 2 }; a repeated key keeps its last value (protobuf's rule). Unknown
 * fields are skipped; a known field with the wrong wire type or a truncated message is UNDECODABLE_BODY.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { FIXED64, LEN, VARINT, WireReader } from '../otlp/wire.ts';

const t = (field: number, wire: number) => (field << 3) | wire;

/** A property's value; undefined when the PropertyValue sets none of its oneof. */
export type PropertyValue = string | number | boolean | undefined;

export interface TrackEventRequest {
  eventName: string;
  userId: string;
  properties: Map<string, PropertyValue>;
  /** Unix seconds as decimal text ("0": not set). */
  timestamp: string;
}

export interface IdentifyUserRequest {
  userId: string;
  properties: Map<string, PropertyValue>;
}

function propertyValue(rd: WireReader, end: number): PropertyValue {
  let value: PropertyValue;
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        value = rd.string();
        break;
      case t(2, FIXED64):
        value = rd.double();
        break;
      case t(3, VARINT):
        value = rd.bool();
        break;
      default:
        rd.skip(tag, [1, 2, 3].includes(tag >>> 3) ? `PropertyValue.${['', 'string_value', 'number_value', 'bool_value'][tag >>> 3]}` : undefined);
    }
  }
  rd.close(end);
  return value;
}

function propertyEntry(rd: WireReader, end: number, into: Map<string, PropertyValue>): void {
  let key = '';
  let value: PropertyValue;
  while (rd.pos < end) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        key = rd.internedString();
        break;
      case t(2, LEN):
        value = propertyValue(rd, rd.end());
        break;
      default:
        rd.skip(tag, tag >>> 3 === 1 ? 'properties.key' : tag >>> 3 === 2 ? 'properties.value' : undefined);
    }
  }
  rd.close(end);
  into.set(key, value);
}

export function decodeTrackEvent(bytes: Buffer): TrackEventRequest {
  const rd = new WireReader(bytes);
  const out: TrackEventRequest = { eventName: '', userId: '', properties: new Map(), timestamp: '0' };
  while (rd.pos < rd.len) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        out.eventName = rd.string();
        break;
      case t(2, LEN):
        out.userId = rd.string();
        break;
      case t(3, LEN):
        propertyEntry(rd, rd.end(), out.properties);
        break;
      case t(4, VARINT):
        out.timestamp = rd.int64Text();
        break;
      default:
        rd.skip(tag, ['', 'event_name', 'user_id', 'properties', 'timestamp'][tag >>> 3] || undefined);
    }
  }
  return out;
}

export function decodeIdentifyUser(bytes: Buffer): IdentifyUserRequest {
  const rd = new WireReader(bytes);
  const out: IdentifyUserRequest = { userId: '', properties: new Map() };
  while (rd.pos < rd.len) {
    const tag = rd.uint32();
    switch (tag) {
      case t(1, LEN):
        out.userId = rd.string();
        break;
      case t(2, LEN):
        propertyEntry(rd, rd.end(), out.properties);
        break;
      default:
        rd.skip(tag, ['', 'user_id', 'properties'][tag >>> 3] || undefined);
    }
  }
  return out;
}

export function encodeTrackEventResponse(success: boolean, eventId: string): Uint8Array {
  const w = new BinaryWriter();
  if (success) w.tag(1, WireType.Varint).bool(true);
  if (eventId !== '') w.tag(2, WireType.LengthDelimited).string(eventId);
  return w.finish();
}

export function encodeIdentifyUserResponse(success: boolean): Uint8Array {
  const w = new BinaryWriter();
  if (success) w.tag(1, WireType.Varint).bool(true);
  return w.finish();
}

export function encodeHealthCheckResponse(status: string): Uint8Array {
  return new BinaryWriter().tag(1, WireType.LengthDelimited).string(status).finish();
}
