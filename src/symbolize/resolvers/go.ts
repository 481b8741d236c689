// The Go resolver: a stripped Go binary (no .symtab) still carries .gopclntab, the function
// table Go keeps for its own tracebacks; the module registry reads it for such files only.
// Asked after the ELF symbols, so a binary with symbols never reaches it.
import type { PcPlace, Resolution, Resolver } from './resolver';

export class GoPclntabResolver implements Resolver {
  resolve({ module: mod, vaddr }: PcPlace): Resolution {
    const fn = vaddr === undefined ? null : (mod?.goFunctions?.lookup(vaddr) ?? null);
    if (fn === null) return { reason: 'no-symbol-covers' };
    return { symbol: fn.name, offset: fn.offset };
  }
}
