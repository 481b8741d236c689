// What the persistent cache checksums its entries with: zlib's CRC-32, computed by the addon
// (node:zlib has it too, but loading it cost a cold CLI 1.3 ms). It catches damaged files,
// which is all the cache needs: the directory itself is checked to be ours and private, and
// every entry holds its whole key, so two keys sharing a file name cost a miss, never a wrong
// answer.
import { binding } from '../addon';

/** A CRC-32 of data (a string as its UTF-8 bytes), as 8 hex digits. */
export function checksum(data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return binding.crc32(bytes).toString(16).padStart(8, '0');
}
