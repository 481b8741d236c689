// Where a frame is in its function, from V8's code objects: the bytecode array's source
// position table (interpreted), the Sparkplug code's bytecode offset table (baseline), the
// optimized code's source position table and deoptimization data (with inlined calls).
import type { JsTier } from '../../types';
import { HeaderCache } from './header-cache';
import { isSmi, smiValue, V8Heap, V8ReadError } from './heap';
import { baselineBytecodeOffset, positionAt } from './source-positions';

export class CodePositions {
  private readonly tables = new HeaderCache<Buffer | undefined>();
  private readonly bytecodes = new HeaderCache<Buffer | undefined>();

  constructor(private readonly heap: V8Heap) {}

  /**
   * The function's current code, if `at` is inside it: its tier and `at`'s offset in it. `at` is
   * the frame's lookup address (pc - 1 for a return address: the unwinder decides which).
   */
  runningCode(tagged: bigint, at: bigint): { code: bigint; header: Buffer; tier: JsTier; offset: number } | undefined {
    const L = this.heap.layout;
    const o = L.off;
    const header = this.heap.header(
      tagged,
      Math.max(
        o.codeInstructionStart + 8,
        o.codeFlags + 4,
        o.codeInstructionSize + 4,
        o.codeSourcePositions + 8,
        o.codeDeoptData + 8,
      ),
    );
    if (header === undefined || header.type !== L.type.code) return undefined;
    const start = header.bytes.readBigUInt64LE(o.codeInstructionStart);
    const size = header.bytes.readInt32LE(o.codeInstructionSize);
    if (size <= 0 || at < start || at >= start + BigInt(size)) return undefined;
    const flags = header.bytes.readUInt32LE(o.codeFlags);
    const kind = (flags >>> L.code.kindShift) & L.code.kindMask;
    if (kind < L.code.baseline) return undefined;
    return {
      code: tagged - 1n,
      header: header.bytes,
      tier: kind === L.code.baseline ? 'baseline' : 'optimized',
      offset: Number(at - start),
    };
  }

  /**
   * The source position at a pc offset of optimized code, and the calls inlined there
   * (innermost first: the inlined function and the position in it), from the code's source
   * position table and its deoptimization data.
   */
  optimizedPosition(
    code: bigint,
    header: Buffer,
    offset: number,
    sfi: bigint,
  ): { position: number; inlined: { sfi: bigint; position: number }[] } | undefined {
    const L = this.heap.layout;
    const bytes = this.tables.get(code, header, () => {
      const table = header.readBigUInt64LE(L.off.codeSourcePositions);
      if (this.heap.typeIfObject(table) !== L.type.byteArray) return undefined;
      const n = this.heap.arrayLength(table - 1n, 1 << 24);
      return this.heap.readLong(table - 1n + BigInt(L.off.fixedArrayData), n);
    });
    if (bytes === undefined) return undefined;
    const at = positionAt(bytes, offset);
    if (at === undefined) return undefined;
    const inlined: { sfi: bigint; position: number }[] = [];
    let { scriptOffset, inliningId } = at;
    if (inliningId === 0) return { position: scriptOffset, inlined };
    const deopt = header.readBigUInt64LE(L.off.codeDeoptData);
    if (this.heap.typeIfObject(deopt) !== L.type.fixedArray)
      throw new V8ReadError('optimized code without deoptimization data');
    const entries = this.heap.arrayLength(deopt - 1n, 1 << 20);
    if (entries <= L.deopt.inliningPositions) throw new V8ReadError('short deoptimization data');
    const entry = (i: number): bigint => this.heap.field(deopt - 1n, L.off.fixedArrayData + 8 * i);
    const count = entry(L.deopt.inlinedCount);
    const literals = entry(L.deopt.literals);
    const positions = entry(L.deopt.inliningPositions);
    const literalsType = this.heap.typeIfObject(literals);
    if (!isSmi(count) || (literalsType !== L.type.fixedArray && literalsType !== L.type.weakFixedArray)) {
      throw new V8ReadError('bad deoptimization data');
    }
    if (this.heap.typeIfObject(positions) !== L.type.byteArray) throw new V8ReadError('bad inlining positions');
    const positionBytes = this.heap.arrayLength(positions - 1n, 1 << 20);
    const literalCount = this.heap.arrayLength(literals - 1n, 1 << 20);
    // InliningPosition: the call's SourcePosition (8 bytes), the inlined function's literal index (int).
    const ENTRY = 16;
    for (let guard = 0; inliningId !== 0; guard++) {
      if (guard > 64 || inliningId * ENTRY > positionBytes) throw new V8ReadError('bad inlining id');
      const e = this.heap.read(positions - 1n + BigInt(L.off.fixedArrayData + (inliningId - 1) * ENTRY), ENTRY);
      const fnIndex = e.readInt32LE(8);
      let inlinedSfi = sfi;
      if (fnIndex >= 0) {
        if (fnIndex >= smiValue(count) || fnIndex >= literalCount) throw new V8ReadError('bad inlined function index');
        // Weak references carry tag 3: the object is the same, strongly tagged.
        const ref = this.heap.field(literals - 1n, L.off.fixedArrayData + 8 * fnIndex) & ~2n;
        inlinedSfi = this.heap.expect(ref, 'SharedFunctionInfo', (t) => t === L.type.sharedFunctionInfo) + 1n;
      }
      inlined.push({ sfi: inlinedSfi, position: scriptOffset });
      const raw = e.readBigUInt64LE(0);
      if ((raw & 1n) === 1n) throw new V8ReadError('external source position');
      const next = Number((raw >> 31n) & 0xffffn);
      if (next >= inliningId) throw new V8ReadError('inlining ids do not decrease');
      scriptOffset = Number((raw >> 1n) & ((1n << 30n) - 1n)) - 1;
      inliningId = next;
    }
    return { position: scriptOffset, inlined };
  }

  /** The script offset of a bytecode offset, from the array's source position table. */
  bytecodePosition(array: bigint, header: Buffer, offset: number): number | { reason: string } {
    const L = this.heap.layout;
    const length = header.readBigUInt64LE(L.off.fixedArrayLength);
    if (!isSmi(length) || offset < 0 || offset >= smiValue(length))
      return { reason: 'bytecode offset outside the bytecode array' };
    const table = this.tables.get(array, header, () => {
      const t = header.readBigUInt64LE(L.off.bytecodeSourcePositions);
      if (this.heap.typeIfObject(t) !== L.type.byteArray) return undefined;
      const n = this.heap.arrayLength(t - 1n, 1 << 24);
      return this.heap.readLong(t - 1n + BigInt(L.off.fixedArrayData), n);
    });
    if (table === undefined)
      return { reason: 'no source positions collected for this function yet (V8 collects them lazily)' };
    const at = positionAt(table, offset);
    return at === undefined ? { reason: 'no source position at this bytecode offset' } : at.scriptOffset;
  }

  /** The script offset a Sparkplug frame is at: pc offset -> bytecode offset -> source position. */
  baselinePosition(
    code: bigint,
    codeHeader: Buffer,
    pcOffset: number,
    array: bigint,
    arrayHeader: Buffer,
  ): number | { reason: string } {
    const L = this.heap.layout;
    if (L.bytecodeSizes === undefined) return { reason: 'no bytecode size table in this node' };
    const offsets = this.tables.get(code, codeHeader, () => {
      const t = codeHeader.readBigUInt64LE(L.off.codeSourcePositions); // the bytecode offset table, in baseline code
      if (this.heap.typeIfObject(t) !== L.type.byteArray) return undefined;
      return this.heap.readLong(t - 1n + BigInt(L.off.fixedArrayData), this.heap.arrayLength(t - 1n, 1 << 24));
    });
    const bytecodes = this.bytecodes.get(array, arrayHeader, () => {
      const length = arrayHeader.readBigUInt64LE(L.off.fixedArrayLength);
      if (!isSmi(length) || smiValue(length) <= 0 || smiValue(length) > 1 << 20) return undefined;
      return this.heap.readLong(array + BigInt(L.off.bytecodeData), smiValue(length));
    });
    if (offsets === undefined || bytecodes === undefined) return { reason: 'unreadable baseline code tables' };
    const offset = baselineBytecodeOffset(offsets, bytecodes, L.bytecodeSizes, pcOffset);
    if (offset === undefined) return { reason: 'bad bytecode offset table' };
    if (offset < 0) return { reason: 'in the function prologue' };
    return this.bytecodePosition(array, arrayHeader, offset);
  }
}
