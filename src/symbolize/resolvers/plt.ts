// The PLT resolver: a pc in a module's PLT (a thread stopped inside a stub) is named after the
// function the stub calls, `name@plt` (stubs have no symbols of their own). Asked only when
// the ELF symbols do not cover the pc; the stubs are read then, once per module.
import { findPltStub } from '../../elf/plt';
import type { ModuleRegistry } from '../module-registry';
import type { PcPlace, Resolution, Resolver } from './resolver';

export class PltResolver implements Resolver {
  constructor(private readonly modules: ModuleRegistry) {}

  resolve({ pid, m, module: mod, vaddr }: PcPlace): Resolution {
    if (mod === undefined || vaddr === undefined || mod.loads.length === 0) return { reason: 'no-symbol-covers' };
    const stub = findPltStub(this.modules.pltOf(pid, m, mod), vaddr);
    if (stub === undefined) return { reason: 'no-symbol-covers' };
    return { symbol: stub.name, offset: Number(vaddr - stub.vaddr) };
  }
}
