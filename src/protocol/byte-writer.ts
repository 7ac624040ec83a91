// Primitive encoders writing into a pre-sized Buffer; each returns the next position.
import { malformed } from './errors.js';

/** Largest value of a Variable Byte Integer (MQTT 5 §1.5.5). */
export const MAX_VARIABLE_INTEGER = 268_435_455;

export function variableIntegerSize(value: number): number {
  if (value < 128) return 1;
  if (value < 16_384) return 2;
  if (value < 2_097_152) return 3;
  if (value <= MAX_VARIABLE_INTEGER) return 4;
  throw malformed('VALUE_OUT_OF_RANGE', `variable byte integer ${value} exceeds ${MAX_VARIABLE_INTEGER}`);
}

export function writeVariableInteger(buf: Buffer, pos: number, value: number): number {
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    buf[pos++] = byte;
  } while (value > 0);
  return pos;
}

/** Encoded size of a UTF-8 string field: 2-byte length + bytes. */
export function stringSize(value: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  if (length > 65_535) throw malformed('VALUE_OUT_OF_RANGE', `string of ${length} bytes exceeds 65535`);
  return 2 + length;
}

export function writeString(buf: Buffer, pos: number, value: string): number {
  const length = value.length;
  if (length < 48) {
    // Short ASCII strings (topics, ids) are faster to copy by hand than through buf.write.
    let index = 0;
    for (; index < length; index++) {
      const code = value.charCodeAt(index);
      if (code >= 0x80) break;
      buf[pos + 2 + index] = code;
    }
    if (index === length) {
      buf[pos] = length >> 8;
      buf[pos + 1] = length & 0xff;
      return pos + 2 + length;
    }
  }
  const written = buf.write(value, pos + 2, 'utf8');
  buf[pos] = written >> 8;
  buf[pos + 1] = written & 0xff;
  return pos + 2 + written;
}

export function writeBinary(buf: Buffer, pos: number, value: Buffer): number {
  const length = value.length;
  if (length > 65_535) throw malformed('VALUE_OUT_OF_RANGE', `binary data of ${length} bytes exceeds 65535`);
  buf[pos] = length >> 8;
  buf[pos + 1] = length & 0xff;
  value.copy(buf, pos + 2);
  return pos + 2 + length;
}
