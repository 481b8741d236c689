// Names of pcs already symbolized during one recording: each distinct pc in a mapped file is named
// once, not once per sample (JIT code is named every time: it is renamed in place). A change to the process's executable mappings (a library loaded or unloaded, code
// mapped anew) empties the cache, since the same address may then hold other code.
import type { NamedPc, PcToName } from './symbolizer';

export class PcNameCache {
  private codeMaps = '';
  private readonly names = new Map<string, NamedPc>();

  /** Names every pc, calling `symbolize` only for the ones not named before under these maps. */
  name(maps: string, pcs: PcToName[], lines: boolean, symbolize: (missing: PcToName[]) => NamedPc[]): NamedPc[] {
    const code = executableMappings(maps);
    if (code !== this.codeMaps) {
      this.names.clear();
      this.codeMaps = code;
    }
    const key = (p: PcToName) => `${p.pc}${p.isReturnAddress ? 'r' : 'x'}${lines ? 'l' : ''}`;
    const missing: PcToName[] = [];
    const queued = new Set<string>();
    for (const p of pcs) {
      const k = key(p);
      if (!this.names.has(k) && !queued.has(k)) {
        queued.add(k);
        missing.push(p);
      }
    }
    const fresh = new Map<string, NamedPc>();
    if (missing.length > 0) {
      symbolize(missing).forEach((n, i) => {
        fresh.set(key(missing[i]), n);
        // JIT code ('[anon]', perf maps) is renamed at the same address without a maps change.
        if (n.module !== null && !n.module.startsWith('[')) this.names.set(key(missing[i]), n);
      });
    }
    return pcs.map((p) => this.names.get(key(p)) ?? fresh.get(key(p))!);
  }

  get size(): number {
    return this.names.size;
  }
}

/** The lines of /proc/<pid>/maps that map code (permissions with x). */
function executableMappings(maps: string): string {
  return maps
    .split('\n')
    .filter((l) => /^\S+ ..x/.test(l))
    .join('\n');
}
