// The ELF resolver: a module's function symbols (its .symtab and .dynsym, its separate debug
// file's, its MiniDebugInfo's), and with `lines` its source lines and inlined calls from
// DWARF. Also names the vdso, from the image the registry read out of the process.
import { SymbolHit } from '../../elf/symbols';
import type { Demangler } from '../demangler';
import type { ModuleRegistry } from '../module-registry';
import type { InlinedName, NamedPc } from '../symbolizer';
import type { PcPlace, Resolution, Resolver } from './resolver';

export class ElfSymbolResolver implements Resolver {
  private readonly hit: SymbolHit = { index: 0, offset: 0 };

  constructor(private readonly demangler: Demangler) {}

  resolve({ module: mod, vaddr }: PcPlace): Resolution {
    if (mod === undefined) return { reason: 'module-unreadable' };
    if (mod.symbols === null) return { reason: mod.failure ?? 'module-unreadable', detail: mod.reason };
    if (vaddr === undefined) return { reason: 'outside-loadable-segments' };
    if (mod.symbols.lookup(vaddr, this.hit))
      return { symbol: this.demangler.name(mod.symbols.name(this.hit.index)), offset: this.hit.offset };
    // A partial failure (damaged MiniDebugInfo, a refused debug file) may be why: the detail.
    const reason = mod.symbols.length === 0 ? 'no-function-symbols' : 'no-symbol-covers';
    return mod.reason === undefined ? { reason } : { reason, detail: mod.reason };
  }
}

/** Whether the place lies in the function at its file's ELF entry point (where a process starts). */
export function atEntryPoint({ module: mod, vaddr }: PcPlace): boolean {
  const entry = mod?.entry;
  return vaddr !== undefined && entry !== undefined && vaddr >= entry.start && vaddr < entry.end;
}

/** The source line of a place in a module, and the calls inlined there (innermost first). */
export function elfSource(
  modules: ModuleRegistry,
  demangler: Demangler,
  { pid, m, module: mod, vaddr }: PcPlace,
): Pick<NamedPc, 'file' | 'line' | 'inlined'> | undefined {
  if (mod === undefined || vaddr === undefined) return undefined;
  const src = modules.lineTableOf(pid, m, mod)?.lookup(vaddr) ?? null;
  const calls = mod.inlines?.lookup(vaddr, src) ?? null;
  if (calls !== null) {
    const inlined: InlinedName[] = calls.calls.map((c) => ({
      symbol: c.name === null ? null : c.linkage ? demangler.name(c.name) : c.name,
      ...c.source,
    }));
    return { ...calls.source, inlined };
  }
  return src ? { file: src.file, line: src.line } : undefined;
}
