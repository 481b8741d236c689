// The layout of the cache's structured entries (symbol indexes, line tables): an 8-byte magic,
// a JSON header (its length as a u32, then the header), padding to 8 bytes, and the body, whose
// columns are read as typed arrays.
const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/** The entry's parts, to write as one file (cache-file.ts writeEntry). */
export function framed(magic: Buffer, header: object, body: Uint8Array): Uint8Array[] {
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(align8(12 + json.length));
  magic.copy(head, 0);
  head.writeUInt32LE(json.length, 8);
  json.copy(head, 12);
  return [head, body];
}

/**
 * The header (parsed JSON, unchecked) and the body of an entry with this magic; null when the
 * entry is not one. The body is a view of `buf` where it starts 8-aligned in its ArrayBuffer (a
 * mapped entry, a read one), else a copy at offset 0 (typed arrays need aligned offsets).
 */
export function unframed(buf: Buffer, magic: Buffer): { header: unknown; body: Uint8Array } | null {
  if (buf.length < 12 || !buf.subarray(0, 8).equals(magic)) return null;
  const len = buf.readUInt32LE(8);
  if (12 + len > buf.length) return null;
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + len));
  } catch {
    return null;
  }
  const at = align8(12 + len);
  if (at > buf.length) return null;
  if ((buf.byteOffset + at) % 8 === 0) return { header, body: buf.subarray(at) };
  return { header, body: new Uint8Array(buf.subarray(at)) };
}
