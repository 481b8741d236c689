import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import { findMapping, parseMaps } from '../src/procfs/maps';

describe('parseMaps', () => {
  it('parses the real /proc/self/maps: one entry per line, sorted, exact 64-bit addresses', () => {
    const text = fs.readFileSync('/proc/self/maps', 'utf8');
    const lines = text.split('\n').filter((l) => l.length > 0);
    const maps = parseMaps(text);
    expect(maps.length).toBe(lines.length);
    for (let i = 0; i < maps.length; i++) {
      const m = maps[i];
      expect(m.start < m.end).toBe(true);
      if (i > 0) expect(maps[i - 1].end <= m.start).toBe(true);
      // Round-trip against the raw line: the range and the trailing path.
      const line = lines[i];
      expect(
        line.startsWith(`${m.start.toString(16).padStart(8, '0')}-${m.end.toString(16).padStart(8, '0')} ${m.perms} `),
      ).toBe(true);
      if (m.path !== '') expect(line.endsWith(m.path + (m.deleted ? ' (deleted)' : ''))).toBe(true);
    }
    // The node binary itself is mapped executable.
    const exe = fs.realpathSync(process.execPath);
    expect(maps.some((m) => m.path === exe && m.perms[2] === 'x')).toBe(true);
    expect(maps.some((m) => m.path === '[stack]')).toBe(true);
    // [vsyscall] lives above 2^63: Number would lose it.
    const vsyscall = maps.find((m) => m.path === '[vsyscall]');
    if (vsyscall !== undefined) expect(vsyscall.start).toBe(0xffffffffff600000n);
  });

  it('keeps spaces in paths, strips (deleted), and handles anonymous and named-anonymous lines', () => {
    const text = [
      '7f0000001000-7f0000002000 r-xp 00001000 fe:01 1234                       /opt/my app/lib thing.so (deleted)',
      '7f0000000000-7f0000001000 r--p 00000000 fe:01 1234                       /opt/my app/lib thing.so (deleted)',
      '7f0000003000-7f0000004000 rwxp 00000000 00:00 0 ',
      '7f0000004000-7f0000005000 r-xp 00000000 00:00 0                          [anon:v8 code]',
      '7f0000005000-7f0000006000 r-xp 00000000 00:00 0',
      'this is not a maps line',
      '7f0000006000-7f000000zzzz r-xp 00000000 00:00 0                          /bad',
      'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
      '',
    ].join('\n');
    const maps = parseMaps(text);
    expect(maps.map((m) => m.path)).toEqual([
      '/opt/my app/lib thing.so',
      '/opt/my app/lib thing.so',
      '',
      '[anon:v8 code]',
      '',
      '[vsyscall]',
    ]);
    expect(maps[0]).toEqual({
      start: 0x7f0000000000n,
      end: 0x7f0000001000n,
      perms: 'r--p',
      offset: 0n,
      dev: 'fe:01',
      inode: 1234,
      path: '/opt/my app/lib thing.so',
      deleted: true,
    });
    expect(maps[1].offset).toBe(0x1000n);
    expect(maps[2].deleted).toBe(false);
    expect(maps[5].end).toBe(0xffffffffff601000n);
  });
});

describe('findMapping', () => {
  it('finds the entry containing an address, and nothing in the gaps', () => {
    const maps = parseMaps(fs.readFileSync('/proc/self/maps', 'utf8'));
    for (const m of maps) {
      expect(findMapping(maps, m.start)).toBe(m);
      expect(findMapping(maps, m.end - 1n)).toBe(m);
      expect(findMapping(maps, m.start + (m.end - m.start) / 2n)).toBe(m);
      const after = findMapping(maps, m.end);
      if (after !== undefined) expect(after.start).toBe(m.end);
    }
    expect(findMapping(maps, 0n)).toBeUndefined();
    expect(findMapping([], 0x1000n)).toBeUndefined();
    const gaps = maps.filter((m, i) => i + 1 < maps.length && m.end < maps[i + 1].start);
    for (const m of gaps) expect(findMapping(maps, m.end)).toBeUndefined();
  });
});
