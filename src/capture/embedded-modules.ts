// Where an offline capture's modules come from (the symbolizer's `supplied` hook): the file
// found at the recorded path when it is the one recorded (check-modules.ts), else the image the
// capture embeds (--embed-modules), else, for a module that changed and that the caller accepted
// (--allow-changed-modules), nothing: its frames stay unnamed, saying why, and are walked by
// frame pointers (its unwind table would be another build's). One source per capture: it
// owns the modules it parsed and frees their native unwind tables in release().
import * as fs from 'node:fs';

import { binding } from '../addon';
import { BufferSource, EM_AARCH64, EM_X86_64, ElfFile, FdSource } from '../elf/elf-file';
import { pltStubs } from '../elf/plt';
import type { MapEntry } from '../procfs/maps';
import { failedModule, loadElfModule, releaseModule, type Module } from '../symbolize/module-cache';
import { debugRootsOf } from '../symbolize/module-registry';
import { reopenTargetFile } from '../symbolize/target-file';
import { OFFLINE } from '../snapshot';
import type { Arch } from '../types';
import type { ModuleCheck } from './check-modules';
import { imagePltStubs } from './module-image';
import { moduleKey } from './record-modules';

const MACHINE: Record<Arch, number> = { x64: EM_X86_64, arm64: EM_AARCH64 };

/** A module that reads no file again: no PLT, no line table (a file there may be another build). */
function sealed(mod: Module): Module {
  mod.plt ??= [];
  mod.lineTable = null;
  mod.inlines = null;
  return mod;
}

export class CaptureModules {
  private readonly loaded = new Map<string, Module>();

  constructor(
    private readonly arch: Arch,
    private readonly checks: Map<string, ModuleCheck>,
  ) {}

  /** The module of mapping m, or undefined to let the symbolizer open its file as usual. */
  readonly supplied = (m: MapEntry): Module | undefined => {
    const key = moduleKey(m);
    const known = this.loaded.get(key);
    if (known !== undefined) return known;
    const check = this.checks.get(key);
    if (check === undefined) return undefined;
    let mod: Module | undefined;
    if (check.file !== undefined) mod = this.fromFile(check, m.path);
    else if (check.record?.image !== undefined) mod = this.fromImage(check.record.image, m.path);
    else if (check.changed !== undefined)
      mod = sealed(failedModule(`changed since the capture: ${check.changed}`, 'module-changed'));
    if (mod !== undefined) this.loaded.set(key, mod);
    return mod;
  };

  /** Frees the native unwind tables of every module handed out. */
  release(): void {
    for (const mod of this.loaded.values()) releaseModule(mod);
    this.loaded.clear();
  }

  /** The file found at the path, checked to be the recorded one: reopened as that very file. */
  private fromFile(check: ModuleCheck, path: string): Module {
    const file = check.file!;
    const opened = reopenTargetFile(file.path, file);
    if ('failure' in opened)
      return sealed(failedModule(`changed since it was checked: ${opened.failure}`, 'module-changed'));
    try {
      const elf = new ElfFile(new FdSource(opened.fd, opened.st.size));
      const mod = loadElfModule(elf, path, debugRootsOf(OFFLINE), binding.xzDecompress);
      mod.plt = pltStubs(elf);
      return mod;
    } catch (e) {
      return failedModule(`ELF: ${(e as Error).message}`, 'module-invalid');
    } finally {
      fs.closeSync(opened.fd);
    }
  }

  /** The embedded image (untrusted: parsed by the same bounds-checked reader as any file). */
  private fromImage(image: string, path: string): Module {
    const bytes = Buffer.from(image, 'base64');
    try {
      const elf = new ElfFile(new BufferSource(bytes));
      if (elf.machine !== MACHINE[this.arch])
        return sealed(
          failedModule(`embedded module: not an ${this.arch} ELF (e_machine ${elf.machine})`, 'module-invalid'),
        );
      const mod = loadElfModule(elf, path, []);
      mod.plt = imagePltStubs(elf);
      return sealed(mod);
    } catch (e) {
      return sealed(failedModule(`embedded module: ${(e as Error).message}`, 'module-invalid'));
    }
  }
}
