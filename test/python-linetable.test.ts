// The location-table decoder against CPython's own: for every code object of a few stdlib
// modules, the line of each instruction equals what code.co_lines() says (python3.11+).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lineOfInstruction } from '../src/runtimes/cpython/line-table';

const DUMP = String.raw`
import json, sys, types, threading, json as j, traceback, asyncio.base_events as be
out = []
def walk(co):
    out.append({'t': co.co_linetable.hex(), 'first': co.co_firstlineno, 'lines': list(co.co_lines())})
    for c in co.co_consts:
        if isinstance(c, types.CodeType): walk(c)
for m in (threading, j.decoder, traceback, be):
    walk(compile(open(m.__file__).read(), m.__file__, 'exec'))
print(json.dumps(out))
`;

function interpreter(): string | null {
  for (const exe of ['/usr/bin/python3.11', 'python3']) {
    try {
      const code = 'import sys; print(sys.version_info >= (3, 11))';
      const v = execFileSync(exe, ['-c', code], { encoding: 'utf8' }).trim();
      if (v === 'True') return exe;
    } catch {
      // not there
    }
  }
  return null;
}

describe('CPython location table', () => {
  const exe = fs.existsSync('/usr/bin/python3.11') ? '/usr/bin/python3.11' : interpreter();
  it.skipIf(exe === null)(`every instruction's line equals co_lines() (${exe ?? 'no python3 >= 3.11 here'})`, () => {
    const codes = JSON.parse(execFileSync(exe!, ['-c', DUMP], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
      t: string;
      first: number;
      lines: [number, number, number | null][];
    }[];
    expect(codes.length).toBeGreaterThan(100);
    let checked = 0;
    for (const c of codes) {
      const table = Buffer.from(c.t, 'hex');
      for (const [start, end, line] of c.lines) {
        for (let byte = start; byte < end; byte += 2) {
          expect(lineOfInstruction(table, c.first, byte / 2)).toBe(line);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10000);
    // Malformed tables give no line, never a wrong one or an exception.
    expect(lineOfInstruction(Buffer.from([0x01, 0x02]), 10, 0)).toBeNull();
    expect(lineOfInstruction(Buffer.from([0xf0 | 0x6, 0x7f]), 10, 0)).toBeNull();
    expect(lineOfInstruction(Buffer.alloc(0), 10, 0)).toBeNull();
  });
});
