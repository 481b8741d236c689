// PLT stubs have no symbols; debuggers name them `name@plt` after the function they jump to.
// x86-64: each stub (in .plt, .plt.sec or .plt.got) jumps through a GOT slot with
// `jmp *disp32(%rip)`; the relocation that fills that slot (.rela.plt JUMP_SLOT, .rela.dyn
// GLOB_DAT) names the function. aarch64: .plt is a 32-byte header, then one 16-byte stub per
// .rela.plt entry, in order.
import { cString, EM_AARCH64, EM_X86_64, RELA_SIZE, SYM_SIZE, type ElfFile, type SectionHeader } from './elf-file';

const R_X86_64_IRELATIVE = 37;
const R_AARCH64_IRELATIVE = 1032;

export interface PltStub {
  vaddr: bigint;
  size: number;
  name: string;
}

const TWO_32 = 4294967296;
/** Up to this size a .dynstr is read whole; past it, name by name. */
const DYNSTR_READ_WHOLE = 1 << 20;

/**
 * The name of the symbol each relocated slot is filled with, r_offset → name, in relocation
 * order; with `wanted`, only for those slots. Addresses are Numbers (link-time addresses sit
 * far below 2^53): .rela.dyn of a large binary holds ~100k relocations (vtables, RELATIVE),
 * and a BigInt or a name per entry made this the cold path's slowest loop.
 */
function relocatedSlots(elf: ElfFile, rela: SectionHeader | undefined, wanted?: Set<number>): Map<number, string> {
  const out = new Map<number, string>();
  if (rela === undefined) return out;
  const dynsym = elf.sections[rela.link];
  const strtab = dynsym === undefined ? undefined : elf.sections[dynsym.link];
  if (dynsym === undefined || strtab === undefined) return out;
  const relocs = elf.sectionData(rela);
  const syms = elf.sectionData(dynsym);
  // Names: the whole .dynstr when small, else one read per name (node's is 5 MB, for ~500 stubs).
  const strs = strtab.size <= DYNSTR_READ_WHOLE ? elf.sectionData(strtab) : undefined;
  for (let o = 0; o + RELA_SIZE <= relocs.length; o += RELA_SIZE) {
    const slot = relocs.readUInt32LE(o + 4) * TWO_32 + relocs.readUInt32LE(o);
    if (wanted !== undefined && !wanted.has(slot)) continue;
    const type = relocs.readUInt32LE(o + 8);
    const sym = relocs.readUInt32LE(o + 12);
    if (sym === 0) {
      // An ifunc slot (IRELATIVE) has no symbol, only its resolver's address: objdump and gdb
      // call the stub `*ABS*+0x<resolver>@plt`.
      if (type === R_X86_64_IRELATIVE || type === R_AARCH64_IRELATIVE)
        out.set(slot, `*ABS*+0x${relocs.readBigInt64LE(o + 16).toString(16)}`);
      continue;
    }
    if ((sym + 1) * SYM_SIZE > syms.length) continue;
    const nameOff = syms.readUInt32LE(sym * SYM_SIZE);
    const name = strs !== undefined ? cString(strs, nameOff) : elf.stringAt(strtab, nameOff);
    if (name !== '') out.set(slot, name);
  }
  return out;
}

/** The `jmp *disp32(%rip)` in an x86-64 stub (after an optional endbr64 / bnd prefix): its GOT slot. */
function x86GotSlot(code: Buffer, at: number, end: number, vaddr: number): number | undefined {
  for (let i = at; i + 6 <= end; i++) {
    if (code[i] === 0xff && code[i + 1] === 0x25) return vaddr + (i - at + 6 + code.readInt32LE(i + 2));
  }
  return undefined;
}

function x86Stubs(elf: ElfFile): PltStub[] {
  // The stubs first, then the names of just the slots they jump through.
  const stubs: { vaddr: bigint; size: number; slot: number }[] = [];
  for (const name of ['.plt', '.plt.sec', '.plt.got']) {
    const s = elf.section(name);
    if (s === undefined || s.size === 0) continue;
    const entry = s.entsize > 0 ? s.entsize : 16;
    const code = elf.sectionData(s);
    const base = Number(s.addr);
    for (let o = 0; o + entry <= code.length; o += entry) {
      const slot = x86GotSlot(code, o, o + entry, base + o);
      if (slot !== undefined) stubs.push({ vaddr: s.addr + BigInt(o), size: entry, slot });
    }
  }
  if (stubs.length === 0) return [];
  const wanted = new Set(stubs.map((s) => s.slot));
  const slots = relocatedSlots(elf, elf.section('.rela.plt'), wanted);
  for (const [k, v] of relocatedSlots(elf, elf.section('.rela.dyn'), wanted)) slots.set(k, v);
  const out: PltStub[] = [];
  for (const { vaddr, size, slot } of stubs) {
    const target = slots.get(slot);
    if (target !== undefined) out.push({ vaddr, size, name: `${target}@plt` });
  }
  return out;
}

function aarch64Stubs(elf: ElfFile): PltStub[] {
  const plt = elf.section('.plt');
  const rela = elf.section('.rela.plt');
  if (plt === undefined || rela === undefined) return [];
  const names = [...relocatedSlots(elf, rela).values()];
  const out: PltStub[] = [];
  names.forEach((name, i) => {
    const o = 32 + 16 * i;
    if (o + 16 <= plt.size) out.push({ vaddr: plt.addr + BigInt(o), size: 16, name: `${name}@plt` });
  });
  return out;
}

/** Every PLT stub of the file with its `name@plt`, sorted by address. Never throws. */
export function pltStubs(elf: ElfFile): PltStub[] {
  try {
    const stubs = elf.machine === EM_X86_64 ? x86Stubs(elf) : elf.machine === EM_AARCH64 ? aarch64Stubs(elf) : [];
    return stubs.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  } catch {
    return []; // malformed relocation or PLT sections: the stubs stay unnamed
  }
}

/** The stub containing vaddr, by binary search. */
export function findPltStub(stubs: PltStub[], vaddr: bigint): PltStub | undefined {
  let l = 0;
  let r = stubs.length - 1;
  while (l <= r) {
    const m = (l + r) >>> 1;
    const s = stubs[m];
    if (vaddr < s.vaddr) r = m - 1;
    else if (vaddr >= s.vaddr + BigInt(s.size)) l = m + 1;
    else return s;
  }
  return undefined;
}
