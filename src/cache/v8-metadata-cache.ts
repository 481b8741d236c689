// node's V8 post-mortem metadata (the v8dbg_* values and the bytecode size table), kept in the
// persistent cache: finding them means reading node's whole .dynsym and its string table, a
// cold snapshot's next biggest cost after the symbol index. Keyed by the binary's identity
// and build-id; the entry is a checksummed JSON document whose every value is checked.
import { readBuildId } from '../elf/build-id';
import type { ElfFile } from '../elf/elf-file';
import { BYTECODE_SIZES, readV8Symbols } from '../runtimes/v8/metadata';
import { cacheDir } from './cache-dir';
import { entryName, readEntry, writeEntry } from './cache-file';
import { checksum } from './checksum';
import { fileIdentity } from './file-identity';

const MAGIC = 'STKV8M01';
/** kBytecodeSizes: 3 operand scales × at most 256 bytecodes. */
const MAX_TABLE = 3 * 256;

interface Payload {
  key: string;
  values: [string, number][];
  tables: [string, string][];
}

function encode(key: string, values: Map<string, number>, tables: Map<string, Buffer>): Buffer {
  const payload: Payload = {
    key,
    values: [...values],
    tables: [...tables].map(([n, b]) => [n, b.toString('base64')]),
  };
  const json = JSON.stringify(payload);
  return Buffer.from(`${MAGIC} ${checksum(json)}\n${json}`);
}

const isInt32 = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31;
const isName = (n: unknown): n is string => typeof n === 'string' && n.length > 0 && n.length <= 256;

/** The entry's values and tables, or null unless intact, for `key`, and well-formed. */
export function decodeV8Metadata(
  buf: Buffer,
  key: string,
): { values: Map<string, number>; tables: Map<string, Buffer> } | null {
  const text = buf.toString('utf8');
  const nl = text.indexOf('\n');
  const head = nl < 0 ? '' : text.slice(0, nl);
  const json = text.slice(nl + 1);
  if (head !== `${MAGIC} ${checksum(json)}`) return null;
  let p: Payload;
  try {
    p = JSON.parse(json) as Payload;
  } catch {
    return null;
  }
  if (typeof p !== 'object' || p === null || p.key !== key || !Array.isArray(p.values) || !Array.isArray(p.tables))
    return null;
  const values = new Map<string, number>();
  for (const e of p.values) {
    if (!Array.isArray(e) || !isName(e[0]) || !isInt32(e[1])) return null;
    values.set(e[0], e[1]);
  }
  const tables = new Map<string, Buffer>();
  for (const e of p.tables) {
    if (!Array.isArray(e) || e[0] !== BYTECODE_SIZES || typeof e[1] !== 'string') return null;
    const bytes = Buffer.from(e[1], 'base64');
    if (bytes.length === 0 || bytes.length > MAX_TABLE) return null;
    tables.set(e[0], bytes);
  }
  return { values, tables };
}

/** readV8Symbols, from the persistent cache when it holds this very binary. */
export function cachedV8Symbols(elf: ElfFile, tables?: Map<string, Buffer>): Map<string, number> {
  const dir = cacheDir();
  let key: string | null;
  try {
    const id = dir === null ? null : fileIdentity(elf);
    key = id === null ? null : `v8meta v1 ${id} build-id=${readBuildId(elf) ?? '-'}`;
  } catch {
    key = null;
  }
  if (dir === null || key === null) return readV8Symbols(elf, tables);
  const name = entryName('v8meta', key);
  const cached = readEntry(dir, name);
  const hit = cached === null ? null : decodeV8Metadata(cached, key);
  if (hit !== null) {
    for (const [n, b] of hit.tables) tables?.set(n, b);
    return hit.values;
  }
  const found = new Map<string, Buffer>();
  const values = readV8Symbols(elf, found);
  for (const [n, b] of found) tables?.set(n, b);
  writeEntry(dir, name, [encode(key, values, found)]);
  return values;
}
