// Does a function set up a frame pointer? Decided from its first bytes, per architecture.
//
// x86-64. The frame-pointer setup is `push %rbp` (55) and `mov %rsp,%rbp` (48 89 e5, or the
// other encoding 48 8b ec). gcc often schedules a few independent instructions between the two
// (`push %rbp; movq %rdi,%xmm0; mov %rsp,%rbp`), so they are not required to be adjacent:
//   - 'entry': the first instruction, after an optional `endbr64` (f3 0f 1e fa, CET builds),
//     is `push %rbp`, and `mov %rsp,%rbp` follows within the first PROLOGUE_WINDOW (64) bytes.
//   - 'later': otherwise, a `push %rbp` byte (55, not preceded by a REX.B prefix 41, which
//     would make it `push %r13`) followed by `mov %rsp,%rbp` within the first PROLOGUE_WINDOW
//     bytes. This is shrink-wrapping (gcc tests an argument and returns early before the
//     prologue: `cmp $0xc5,%dil; ja out; push %rbp; ... mov %rsp,%rbp`) and stack realignment
//     in main (`lea 8(%rsp),%r10; and $-16,%rsp; push -8(%r10); push %rbp; mov %rsp,%rbp`).
//   - In both, the push does not count when the stack pointer moves between it and the mov:
//     when another push follows it at once (%rbp saved as one more callee-saved register), or
//     when a `sub $n,%rsp` (48 83 ec / 48 81 ec) comes before the mov. Code built without
//     frame pointers does `push %rbp; push %rbx; sub $0x58,%rsp; mov %rsp,%rbp` to use %rbp
//     as a pointer to a local buffer: %rbp then points at locals, not at a frame record.
//   - 'none': neither.
// The bytes are matched, not decoded. `48 89 e5` is itself `mov %rsp,%rbp`, so a false
// positive needs those bytes inside another instruction's displacement or immediate (possible,
// rare); a false negative, a 48 8x ec sequence inside one between the push and the mov.
//
// aarch64. The frame record is saved with `stp x29, x30, [sp, ...]` and x29 pointed at it with
// `add x29, sp, #imm` (`mov x29, sp` is `add x29, sp, #0`). gcc schedules other instructions
// before and between them (`adrp x1, ...; ldr x1, [...]; stp x29, x30, [sp, #-64]!; and w2, ...;
// mov x29, sp`), so:
//   - a function sets up a frame pointer when, within its first PROLOGUE_WINDOW bytes (16
//     instructions), an `stp x29, x30, [sp, #off]` (pre-index or signed offset: gcc's
//     large-frame form is `sub sp, sp, #N; stp x29, x30, [sp, #off]; add x29, sp, #off`) is
//     followed, at most 4 instructions later, by `add x29, sp, #imm`;
//   - 'entry' when no branch (b, b.cond, cbz/cbnz, tbz/tbnz, ret, br) comes before the stp,
//     'later' when one does (shrink-wrapping: an early exit before the prologue).
// Leading paciasp / pacibsp / bti are plain instructions here. A function that only saves
// x29/x30 (non-leaf code built with -fomit-frame-pointer) does not count: x29 must be made to
// point at the record.
import { EM_AARCH64, EM_X86_64 } from '../elf/elf-file';

export const PROLOGUE_WINDOW = 64;

export type PrologueKind = 'entry' | 'later' | 'none';

const ENDBR64 = [0xf3, 0x0f, 0x1e, 0xfa];

/** `mov %rsp,%rbp` at i (48 89 e5 or 48 8b ec). */
function movRspRbpAt(code: Uint8Array, i: number): boolean {
  return (
    i + 3 <= code.length &&
    code[i] === 0x48 &&
    ((code[i + 1] === 0x89 && code[i + 2] === 0xe5) || (code[i + 1] === 0x8b && code[i + 2] === 0xec))
  );
}

/** `sub $imm,%rsp` at i (48 83 ec ib / 48 81 ec id). */
function subRspAt(code: Uint8Array, i: number): boolean {
  return (
    i + 3 <= code.length && code[i] === 0x48 && (code[i + 1] === 0x83 || code[i + 1] === 0x81) && code[i + 2] === 0xec
  );
}

/** A push of a general register at i: 50+r, or 41 50+r. */
function pushAt(code: Uint8Array, i: number): boolean {
  const b = code[i];
  if (b >= 0x50 && b <= 0x57) return true;
  return b === 0x41 && i + 1 < code.length && code[i + 1] >= 0x50 && code[i + 1] <= 0x57;
}

/** x86-64: `code` is the function's first bytes (at most PROLOGUE_WINDOW, not past its end). */
export function classifyX86_64(code: Uint8Array): PrologueKind {
  const end = Math.min(code.length, PROLOGUE_WINDOW);
  let start = 0;
  if (end >= 4 && ENDBR64.every((b, k) => code[k] === b)) start = 4;
  for (let i = start; i < end; i++) {
    if (code[i] !== 0x55 || (i > start && code[i - 1] === 0x41)) continue;
    // %rbp saved as just another callee-saved register: more pushes follow at once.
    if (pushAt(code, i + 1)) continue;
    for (let j = i + 1; j + 3 <= end; j++) {
      if (movRspRbpAt(code, j)) return i === start ? 'entry' : 'later';
      // The stack pointer moved since the push: %rbp would point at locals, not a frame record.
      if (subRspAt(code, j)) break;
    }
  }
  return 'none';
}

/** stp x29, x30, [sp, #imm]! (64-bit, pre-index). */
function isStpFpLrPre(insn: number): boolean {
  return (insn & 0xffc07fff) >>> 0 === 0xa9807bfd;
}
/** stp x29, x30, [sp, #imm] (64-bit, signed offset). */
function isStpFpLrOffset(insn: number): boolean {
  return (insn & 0xffc07fff) >>> 0 === 0xa9007bfd;
}
/** add x29, sp, #imm12 (no shift); `mov x29, sp` is the #0 case. */
function isAddFpSp(insn: number): boolean {
  return (insn & 0xffc003ff) >>> 0 === 0x910003fd;
}

/** Branches that can leave or skip the prologue: b, b.cond, cbz/cbnz, tbz/tbnz, ret, br. */
function isBranch(insn: number): boolean {
  return (
    (insn & 0xfc000000) >>> 0 === 0x14000000 || // b
    (insn & 0xff000010) >>> 0 === 0x54000000 || // b.cond
    (insn & 0x7e000000) >>> 0 === 0x34000000 || // cbz, cbnz
    (insn & 0x7e000000) >>> 0 === 0x36000000 || // tbz, tbnz
    (insn & 0xfffffc1f) >>> 0 === 0xd65f0000 || // ret
    (insn & 0xfffffc1f) >>> 0 === 0xd61f0000 // br
  );
}

/** aarch64: `code` is the function's first bytes (at most PROLOGUE_WINDOW, not past its end). */
export function classifyAarch64(code: Uint8Array): PrologueKind {
  const n = Math.min(code.length, PROLOGUE_WINDOW) >>> 2;
  const view = new DataView(code.buffer, code.byteOffset, n * 4);
  const insn = (k: number): number => view.getUint32(k * 4, true);
  let branched = false;
  for (let k = 0; k < n; k++) {
    const w = insn(k);
    if (isStpFpLrPre(w) || isStpFpLrOffset(w)) {
      for (let j = k + 1; j < n && j <= k + 4; j++) if (isAddFpSp(insn(j))) return branched ? 'later' : 'entry';
    } else if (isBranch(w)) {
      branched = true;
    }
  }
  return 'none';
}

/** The classifier for an ELF e_machine, or null when the architecture is not supported. */
export function classifierFor(machine: number): ((code: Uint8Array) => PrologueKind) | null {
  if (machine === EM_X86_64) return classifyX86_64;
  if (machine === EM_AARCH64) return classifyAarch64;
  return null;
}
