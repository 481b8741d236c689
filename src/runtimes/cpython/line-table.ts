// CPython's location table (co_linetable, 3.11 and later; Objects/locations.md): the source
// line of an instruction. Each entry starts with a byte 1ccccnnn: code c says how the line
// changes (and what column bytes follow), n + 1 is how many code units the entry covers.

const NO_LOCATION = 15;
const LONG_FORM = 14;
const NO_COLUMNS = 13;
const ONE_LINE_0 = 10;
const ONE_LINE_2 = 12;

/** The line of the instruction at code-unit index `index`; null when the table says none or is malformed. */
export function lineOfInstruction(table: Buffer, firstLine: number, index: number): number | null {
  if (index < 0) return firstLine; // not started yet: CPython reports the first line
  let line = firstLine;
  let unit = 0;
  let i = 0;
  const varint = (): number | null => {
    let shift = 0;
    let value = 0;
    for (;;) {
      if (i >= table.length || shift > 28) return null;
      const b = table[i++]!;
      value += (b & 63) * 2 ** shift;
      shift += 6;
      if ((b & 64) === 0) return value;
    }
  };
  const svarint = (): number | null => {
    const v = varint();
    if (v === null) return null;
    return v % 2 === 1 ? -Math.floor(v / 2) : v / 2;
  };
  while (i < table.length) {
    const first = table[i++]!;
    if ((first & 0x80) === 0) return null; // not at an entry's start: malformed
    const code = (first >> 3) & 15;
    const length = (first & 7) + 1;
    let delta: number | null = 0;
    if (code === LONG_FORM) {
      delta = svarint();
      if (delta === null || varint() === null || varint() === null || varint() === null) return null;
    } else if (code === NO_COLUMNS) {
      delta = svarint();
      if (delta === null) return null;
    } else if (code >= ONE_LINE_0 && code <= ONE_LINE_2) {
      delta = code - ONE_LINE_0;
      i += 2;
    } else if (code !== NO_LOCATION) {
      i += 1; // short form: the line does not change, one column byte follows
    }
    line += delta;
    if (index < unit + length) return code === NO_LOCATION || line < 0 ? null : line;
    unit += length;
  }
  return null;
}
