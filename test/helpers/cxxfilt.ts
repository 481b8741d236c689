// GNU c++filt as the demangling oracle: one process for any number of names.

import { execFileSync, spawnSync } from 'node:child_process';

/** c++filt reads a word of these characters as one name; any other character ends it. */
export const CXXFILT_WORD = /^[A-Za-z0-9_$.]+$/;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * c++filt's output for each name (a name it does not demangle comes back as is). `null` for a
 * name it prints as invalid UTF-8 (Punycode in a corrupt Rust name can make it do so).
 * `format: 'rust'` reads names as Rust only (no Itanium fallback for `_ZN` names).
 * Every name must be one c++filt word (CXXFILT_WORD).
 */
export function cxxfilt(names: readonly string[], format?: 'rust'): (string | null)[] {
  for (const n of names) if (!CXXFILT_WORD.test(n)) throw new Error(`not a single c++filt word: ${JSON.stringify(n)}`);
  if (names.length === 0) return [];
  const args = format === undefined ? [] : ['--format', format];
  const out = execFileSync('c++filt', args, { input: names.join('\n') + '\n', maxBuffer: 1 << 30 });
  const lines: (string | null)[] = [];
  let start = 0;
  for (let i = 0; i < out.length; i++) {
    if (out[i] !== 0x0a) continue;
    try {
      lines.push(strictUtf8.decode(out.subarray(start, i)));
    } catch {
      lines.push(null);
    }
    start = i + 1;
  }
  if (lines.length !== names.length) throw new Error(`c++filt printed ${lines.length} lines for ${names.length} names`);
  return lines;
}

/** Names of the FUNC symbols in every symbol table of `files` (archives too), versions removed, deduplicated. */
export function functionSymbols(...files: string[]): string[] {
  // readelf goes on past archive members that are not ELF (an .rlib's metadata) and then exits
  // non-zero: its output is used whatever the status.
  const r = spawnSync('readelf', ['-Ws', '--wide', ...files], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  const names = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*\d+:\s+[0-9a-f]+\s+\S+\s+FUNC\s+\w+\s+\w+\s+\w+\s+(\S+)/.exec(line);
    if (m) names.add(m[1].replace(/@.*$/, ''));
  }
  return [...names];
}

/**
 * How `nm -C` prints each defined symbol of `file` (raw name → demangled): binutils' short
 * style, the one perf and gdb show (no legacy Rust hash, no v0 crate disambiguators or constant
 * types). nm lists the symbols in table order (-p) with and without -C, so the lines pair up.
 */
export function nmDemangled(file: string): Map<string, string> {
  const list = (demangle: boolean): string[] =>
    execFileSync('nm', ['-p', '--defined-only', ...(demangle ? ['-C'] : []), file], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    })
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.replace(/^[0-9a-f]* ?[A-Za-z] /, ''));
  const raw = list(false);
  const shown = list(true);
  if (raw.length !== shown.length) throw new Error(`nm listed ${raw.length} symbols, nm -C ${shown.length}`);
  return new Map(raw.map((r, i) => [r, shown[i]]));
}
