// A string table read where it lies in its file, one name at a time: a snapshot names a few
// dozen frames, and node's .strtab is 7.5 MB, reading it whole was half of a cached module's
// cost. The table keeps its own descriptor of the file (reopened from the parser's, so closing
// that one does not matter) until close(), and only so many tables at once (MAX_OPEN). A table asked for many names (a capture writing all
// symbols) reads itself whole once instead: pread per name would then cost more.
import * as fs from 'node:fs';
import { cString } from './elf-file';

/** What a symbol table reads its names from: a buffer, or a FileStrings. */
export interface StringTable {
  readonly length: number;
  /** The NUL-terminated string at `off` ('' outside the table or unreadable). */
  cString(off: number): string;
}

/** A string table already in memory. */
export function bufferStrings(buf: Buffer): StringTable {
  return { length: buf.length, cString: (off) => cString(buf, off) };
}

/** A name longer than this is cut (cString's own bound). */
const MAX_NAME = 65536;
/** First read per name: most names (even mangled C++) fit. */
const FIRST_READ = 256;
/** Names read one by one before the whole table is read instead. */
const PREADS_BEFORE_WHOLE = 256;

/** Descriptors held at once, at most: a long-lived process caches up to 256 modules, and its
 *  own descriptors matter more. Past this, tables are read whole as before. */
const MAX_OPEN = 64;
let openTables = 0;

/** Descriptors of tables dropped without close() (a module never released): closed when collected. */
const orphans = new FinalizationRegistry<{ fd: number }>((held) => {
  if (held.fd < 0) return;
  openTables--;
  fs.close(held.fd, () => undefined);
});

export class FileStrings implements StringTable {
  private readonly held: { fd: number };
  private whole: Buffer | undefined;
  private reads = 0;

  private constructor(
    fd: number,
    private readonly offset: number,
    readonly length: number,
  ) {
    this.held = { fd };
    orphans.register(this, this.held, this);
  }

  /**
   * The table at [offset, offset + length) of the open file `fd` (a regular file, at least that
   * long), or null when the file cannot be reopened (then read the table whole).
   */
  static open(fd: number, offset: number, length: number): FileStrings | null {
    if (openTables >= MAX_OPEN) return null;
    try {
      const own = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const st = fs.fstatSync(own);
      if (!st.isFile() || st.size < offset + length) {
        fs.closeSync(own);
        return null;
      }
      openTables++;
      return new FileStrings(own, offset, length);
    } catch {
      return null;
    }
  }

  cString(off: number): string {
    if (this.whole !== undefined) return cString(this.whole, off);
    if (off < 0 || off >= this.length || this.held.fd < 0) return '';
    if (++this.reads > PREADS_BEFORE_WHOLE && this.readWhole()) return cString(this.whole!, off);
    const limit = Math.min(this.length - off, MAX_NAME);
    for (let want = Math.min(FIRST_READ, limit); ; want = Math.min(want * 8, limit)) {
      const buf = this.read(off, want);
      if (buf === null) return '';
      const end = buf.indexOf(0);
      if (end >= 0 || want === limit || buf.length < want) return buf.toString('utf8', 0, end < 0 ? buf.length : end);
    }
  }

  /** Gives the descriptor back; names read afterwards are ''. */
  close(): void {
    orphans.unregister(this);
    if (this.held.fd < 0) return;
    openTables--;
    fs.closeSync(this.held.fd);
    this.held.fd = -1;
  }

  private read(off: number, length: number): Buffer | null {
    try {
      const buf = Buffer.allocUnsafe(length);
      const n = fs.readSync(this.held.fd, buf, 0, length, this.offset + off);
      return buf.subarray(0, n);
    } catch {
      return null;
    }
  }

  private readWhole(): boolean {
    const buf = this.read(0, this.length);
    if (buf === null || buf.length !== this.length) return false;
    this.whole = buf;
    this.close();
    return true;
  }
}
