// What the persistent cache hashes, with zlib's CRC-32 (native; node:zlib loads in a third of
// the time node:crypto takes, which a cold CLI pays on every run). It catches damaged files,
// which is all the cache needs: the directory itself is checked to be ours and private, and
// every entry holds its whole key, so two keys sharing a file name cost a miss, never a wrong
// answer.
import * as zlib from 'node:zlib';

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

/** A CRC-32 of data, as 8 hex digits. */
export function checksum(data: Uint8Array | string): string {
  return hex8(zlib.crc32(data));
}

/** A CRC-32 of data, as 4 bytes (big-endian). */
export function checksumBytes(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(zlib.crc32(data));
  return out;
}

/**
 * 64 bits for a file name: the CRC-32 of the key and of the key reversed. CRC is linear in the
 * message, and reversing changes the linear map, so the two halves do not determine each other.
 */
export function nameHash(key: string): string {
  return checksum(key) + checksum([...key].reverse().join(''));
}
