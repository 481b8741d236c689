// One V8 stack frame, read from the target after it resumed: the slot at fp + off_fp_context_
// or_frame_type holds either a frame-type marker (entry, exit, stub, builtin frames: they keep
// their native names) or a context (a JavaScript frame). A JS frame's function sits at
// fp + off_fp_function; an interpreted frame also holds its bytecode array and offset.
import { isHeapObject, isSmi, MAX_SOURCE_CHARS, smiValue, V8Heap, V8ReadError } from './heap';
import { baselineBytecodeOffset, lineAndColumn, lineEndsOf, positionAt } from './source-positions';

import type { JsTier } from '../../types';

export interface JsFrameName {
  /** As V8 names the function ('' for an anonymous one). */
  name: string;
  tier: JsTier;
  /** The script's name or URL, when it has one. */
  file?: string;
  /** 1-based; where the frame is (interpreted), else where its function starts. */
  line?: number;
  column?: number;
  /** Why line is the function's start rather than the frame's position. */
  lineReason?: string;
}

export type V8Frame =
  | { kind: 'js'; js: JsFrameName; inlined?: JsFrameName[] } // inlined: calls inlined at the pc, innermost first
  | { kind: 'marker'; frameType: number } // V8's own frame (entry, exit, stub, ...)
  | { kind: 'internal' } // a builtin that is not (or not yet) a JavaScript builtin's own frame
  | { kind: 'unreadable'; reason: string };

/** A thread's stack as the capture copied it: bytes from address base on. */
export interface StackCopy {
  base: bigint;
  bytes: Buffer;
}

/** Where a frame's pc is: the interpreter's builtins, other V8 builtins, or JIT-compiled code. */
export type V8Code = 'interpreter' | 'builtin' | 'jit';

/** JSFunction and its subclasses (class constructors, builtin constructors) share a type range. */
const JS_FUNCTION_TYPES = 15;
/** Frame-type markers are small enums shifted left by the Smi tag size. */
const MAX_FRAME_TYPE = 64;
/** V8 inlines at most this many context locals' names in a ScopeInfo (kScopeInfoMaxInlinedLocalNamesSize). */
const MAX_INLINED_LOCAL_NAMES = 75;
/** Scripts whose line ends are kept; a long-running process has few distinct scripts on its stacks. */
const MAX_CACHED_SCRIPTS = 256;

interface ScriptInfo {
  source: bigint;
  file?: string;
  lineEnds?: ArrayLike<number>;
  lineReason?: string;
}

interface SharedInfo {
  name: string;
  startPosition?: number;
  script: ScriptInfo;
}

/** Entries kept per cache; a process's stacks hold far fewer distinct functions. */
const MAX_CACHED = 4096;

/**
 * What was derived from an object, reused while the object's header (its first fields, read
 * again each time) is byte for byte the same: GC moves objects and updates the pointers in
 * them, so an object that moved or changed no longer matches.
 */
function cached<T>(
  cache: Map<bigint, { header: Buffer; value: T }>,
  addr: bigint,
  header: Buffer,
  compute: () => T,
): T {
  const hit = cache.get(addr);
  if (hit !== undefined && hit.header.equals(header)) return hit.value;
  const value = compute();
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(addr, { header: Buffer.from(header), value });
  return value;
}

export class V8FrameReader {
  private readonly scripts = new Map<bigint, ScriptInfo>();
  private readonly shared = new Map<bigint, { header: Buffer; value: SharedInfo }>();
  private readonly tables = new Map<bigint, { header: Buffer; value: Buffer | undefined }>();
  private readonly bytecodes = new Map<bigint, { header: Buffer; value: Buffer | undefined }>();

  constructor(readonly heap: V8Heap) {}

  /** Reads the frame whose frame pointer is fp; pcIn says what code its pc is in. */
  read(fp: bigint, pc: bigint, pcIn: V8Code, stack?: StackCopy): V8Frame {
    try {
      return this.readFrame(fp, pc, pcIn, stack);
    } catch (e) {
      // Builtins are stubs of many frame layouts, and may not have built their frame yet:
      // one that is not a JavaScript builtin's own frame is no error, just not JavaScript.
      if (e instanceof V8ReadError)
        return pcIn === 'builtin' ? { kind: 'internal' } : { kind: 'unreadable', reason: e.message };
      throw e;
    }
  }

  private readFrame(fp: bigint, pc: bigint, pcIn: V8Code, stack?: StackCopy): V8Frame {
    const interpreterPc = pcIn === 'interpreter';
    const L = this.heap.layout;
    const low = Math.min(L.fp.contextOrFrameType, L.fp.function, L.fp.bytecodeArray, L.fp.bytecodeOffset);
    // The slots as the capture copied them (the frame as it was at the stop), else as they are now.
    const from = fp + BigInt(low) - (stack?.base ?? 0n);
    const copied = stack !== undefined && from >= 0n && from - BigInt(low) <= BigInt(stack.bytes.length);
    const slots = copied
      ? stack.bytes.subarray(Number(from), Number(from) - low)
      : this.heap.read(fp + BigInt(low), -low);
    const slot = (off: number): bigint => slots.readBigUInt64LE(off - low);
    const marker = slot(L.fp.contextOrFrameType);
    if (isSmi(marker)) {
      if (marker >= BigInt(MAX_FRAME_TYPE * 2)) throw new V8ReadError('neither a frame marker nor a context');
      return { kind: 'marker', frameType: Number(marker >> 1n) };
    }
    const fnHeader = this.heap.header(slot(L.fp.function), Math.max(L.off.jsFunctionShared, L.off.jsFunctionCode) + 8);
    if (fnHeader === undefined) throw new V8ReadError('no readable object in the function slot');
    if (fnHeader.type < L.type.jsFunction || fnHeader.type >= L.type.jsFunction + JS_FUNCTION_TYPES) {
      throw new V8ReadError(`JSFunction expected, instance type ${fnHeader.type} found`);
    }
    const sfiTagged = fnHeader.bytes.readBigUInt64LE(L.off.jsFunctionShared);
    const { name, startPosition, script } = this.sharedInfo(sfiTagged);
    // A builtin's own JavaScript frame is a builtin function's (no script); V8's nameless
    // closures (promise reactions, async resumption) are not in JavaScript stack traces.
    if (pcIn === 'builtin' && (name === '' || script.source !== 0n)) return { kind: 'internal' };
    const js: JsFrameName = { name, tier: 'optimized' };
    if (script.file !== undefined) js.file = script.file;

    const bytecode = slot(L.fp.bytecodeArray);
    // Optimized frames keep spill slots there: any word, which may look like a pointer.
    const bytecodeHeader = this.heap.header(bytecode, L.off.bytecodeSourcePositions + 8);
    const isBytecode = bytecodeHeader?.type === L.type.bytecodeArray;
    let position: number | undefined;
    let lineReason: string | undefined;
    let inlined: JsFrameName[] | undefined;
    if (isBytecode && isSmi(slot(L.fp.bytecodeOffset)) && interpreterPc) {
      js.tier = 'interpreted';
      const offset = smiValue(slot(L.fp.bytecodeOffset)) - (L.off.bytecodeData - 1);
      const at = this.bytecodePosition(bytecode - 1n, bytecodeHeader!.bytes, offset);
      if (typeof at === 'number') position = at;
      else lineReason = at.reason;
    } else if (pcIn === 'jit') {
      // The function's code, else (tiered up since the frame was entered) its Sparkplug code.
      const code =
        this.runningCode(fnHeader.bytes.readBigUInt64LE(L.off.jsFunctionCode), pc) ??
        this.runningCode(this.heap.field(sfiTagged - 1n, L.off.sfiFunctionData), pc);
      js.tier = code !== undefined ? code.tier : isBytecode ? 'baseline' : 'optimized';
      if (code?.tier === 'baseline' && bytecodeHeader !== undefined && isBytecode) {
        const at = this.baselinePosition(code.code, code.header, code.offset + 1, bytecode - 1n, bytecodeHeader.bytes);
        if (typeof at === 'number') position = at;
      }
      if (code?.tier === 'optimized') {
        const at = this.optimizedPosition(code.code, code.header, code.offset, sfiTagged);
        if (at !== undefined) {
          position = at.position;
          if (at.inlined.length > 0) inlined = at.inlined.map((f) => this.inlinedFrame(f.sfi, f.position, js.tier));
        }
      }
      if (position === undefined) lineReason = `${js.tier} code: the line is where the function starts`;
    } else {
      js.tier = 'builtin';
    }
    if (position === undefined && startPosition !== undefined) position = startPosition;
    if (script.lineReason !== undefined) lineReason = script.lineReason;
    if (position !== undefined && script.lineEnds !== undefined) {
      const lc = lineAndColumn(script.lineEnds, position);
      if (lc !== undefined) {
        js.line = lc.line;
        js.column = lc.column;
      }
    }
    if (lineReason !== undefined) js.lineReason = lineReason;
    return inlined === undefined ? { kind: 'js', js } : { kind: 'js', js, inlined };
  }

  /** The function's current code, if the pc is inside it: its tier and the pc's offset in it. */
  private runningCode(
    tagged: bigint,
    pc: bigint,
  ): { code: bigint; header: Buffer; tier: JsTier; offset: number } | undefined {
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
    // pc is a return address (or, innermost, the next instruction): the call is before it.
    const at = pc - 1n;
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
  private optimizedPosition(
    code: bigint,
    header: Buffer,
    offset: number,
    sfi: bigint,
  ): { position: number; inlined: { sfi: bigint; position: number }[] } | undefined {
    const L = this.heap.layout;
    const bytes = cached(this.tables, code, header, () => {
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

  /** A function inlined into optimized code, named from its SharedFunctionInfo (tagged). */
  private inlinedFrame(sfiTagged: bigint, position: number, tier: JsTier): JsFrameName {
    const { name, script } = this.sharedInfo(sfiTagged);
    const js: JsFrameName = { name, tier };
    if (script.file !== undefined) js.file = script.file;
    const lc = script.lineEnds === undefined || position < 0 ? undefined : lineAndColumn(script.lineEnds, position);
    if (lc !== undefined) {
      js.line = lc.line;
      js.column = lc.column;
    }
    return js;
  }

  /** The script offset of a bytecode offset, from the array's source position table. */
  private bytecodePosition(array: bigint, header: Buffer, offset: number): number | { reason: string } {
    const L = this.heap.layout;
    const length = header.readBigUInt64LE(L.off.fixedArrayLength);
    if (!isSmi(length) || offset < 0 || offset >= smiValue(length))
      return { reason: 'bytecode offset outside the bytecode array' };
    const table = cached(this.tables, array, header, () => {
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
  private baselinePosition(
    code: bigint,
    codeHeader: Buffer,
    pcOffset: number,
    array: bigint,
    arrayHeader: Buffer,
  ): number | { reason: string } {
    const L = this.heap.layout;
    if (L.bytecodeSizes === undefined) return { reason: 'no bytecode size table in this node' };
    const offsets = cached(this.tables, code, codeHeader, () => {
      const t = codeHeader.readBigUInt64LE(L.off.codeSourcePositions); // the bytecode offset table, in baseline code
      if (this.heap.typeIfObject(t) !== L.type.byteArray) return undefined;
      return this.heap.readLong(t - 1n + BigInt(L.off.fixedArrayData), this.heap.arrayLength(t - 1n, 1 << 24));
    });
    const bytecodes = cached(this.bytecodes, array, arrayHeader, () => {
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

  /** A SharedFunctionInfo's name, start and script: cached while its fields stay the same. */
  private sharedInfo(tagged: bigint): SharedInfo {
    const L = this.heap.layout;
    const header = this.heap.header(tagged, Math.max(L.off.sfiNameOrScopeInfo, L.off.sfiScript) + 8);
    if (header === undefined) throw new V8ReadError('unreadable SharedFunctionInfo');
    if (header.type !== L.type.sharedFunctionInfo)
      throw new V8ReadError(`SharedFunctionInfo expected, instance type ${header.type} found`);
    return cached(this.shared, tagged, header.bytes, () => {
      const { name, startPosition } = this.functionName(tagged - 1n);
      const info: SharedInfo = { name, script: this.script(header.bytes.readBigUInt64LE(L.off.sfiScript)) };
      if (startPosition !== undefined) info.startPosition = startPosition;
      return info;
    });
  }

  /** The function's name (SharedFunctionInfo: a String, or a ScopeInfo that holds it) and start. */
  private functionName(sfi: bigint): { name: string; startPosition?: number } {
    const L = this.heap.layout;
    const nameOrScope = this.heap.field(sfi, L.off.sfiNameOrScopeInfo);
    if (isSmi(nameOrScope)) return { name: '' }; // kNoSharedNameSentinel
    const type = this.heap.typeOf(nameOrScope);
    if (type < L.type.firstNonString) return { name: this.heap.string(nameOrScope) };
    if (type !== L.type.scopeInfo) throw new V8ReadError(`name or ScopeInfo expected, instance type ${type} found`);
    // ScopeInfo: flags, parameter count, context local count, then the locals' names and infos,
    // then (some optional Smis and) the function's name, and its start and end positions.
    const scope = nameOrScope - 1n + BigInt(L.off.map + 8);
    const head = this.heap.read(scope, 8 * (L.scopeInfo.firstVars + 1));
    const count = head.readBigUInt64LE(8 * L.scopeInfo.contextLocalCount);
    if (!isSmi(count) || smiValue(count) < 0 || smiValue(count) > 1 << 16) throw new V8ReadError('bad ScopeInfo');
    const locals = smiValue(count);
    const skip = L.scopeInfo.firstVars + (locals < MAX_INLINED_LOCAL_NAMES ? 2 * locals : 1 + locals);
    const SLOTS = 8;
    const rest = this.heap.read(scope + BigInt(8 * skip), 8 * SLOTS);
    let name = '';
    let prev = 1n;
    for (let i = 0; i < SLOTS; i++) {
      const w = rest.readBigUInt64LE(8 * i);
      if (name === '' && isHeapObject(w) && this.heap.isString(w)) name = this.heap.string(w);
      if (isSmi(w) && isSmi(prev) && i > 0 && smiValue(prev) >= 0 && smiValue(prev) < smiValue(w)) {
        return { name, startPosition: smiValue(prev) };
      }
      prev = w;
    }
    return { name };
  }

  /** The script's name and line ends, cached while its source stays the same object. */
  private script(tagged: bigint): ScriptInfo {
    const L = this.heap.layout;
    if (!isHeapObject(tagged) || this.heap.typeOf(tagged) !== L.type.script)
      return { source: 0n, lineReason: 'the function has no script' };
    const script = tagged - 1n;
    const source = this.heap.field(script, L.off.scriptSource);
    const cached = this.scripts.get(tagged);
    if (cached !== undefined && cached.source === source) return cached;
    const info: ScriptInfo = { source };
    const name = this.heap.field(script, L.off.scriptName);
    if (this.heap.isString(name)) info.file = this.heap.string(name);
    try {
      info.lineEnds = this.lineEnds(script, source);
    } catch (e) {
      if (!(e instanceof V8ReadError)) throw e;
      info.lineReason = `no line: ${e.message}`;
    }
    if (this.scripts.size >= MAX_CACHED_SCRIPTS) this.scripts.clear();
    this.scripts.set(tagged, info);
    return info;
  }

  /** Script::line_ends when V8 computed them, else the source's newlines. */
  private lineEnds(script: bigint, source: bigint): ArrayLike<number> {
    const L = this.heap.layout;
    if (L.off.scriptLineEnds >= 0) {
      const ends = this.heap.field(script, L.off.scriptLineEnds);
      if (isHeapObject(ends) && this.heap.typeOf(ends) === L.type.fixedArray) {
        const n = this.heap.arrayLength(ends - 1n, 1 << 24);
        const words = this.heap.readLong(ends - 1n + BigInt(L.off.fixedArrayData), 8 * n);
        const out = new Array<number>(n);
        for (let i = 0; i < n; i++) {
          const w = words.readBigUInt64LE(8 * i);
          if (!isSmi(w) || (i > 0 && smiValue(w) < out[i - 1])) throw new V8ReadError('bad line ends');
          out[i] = smiValue(w);
        }
        return out;
      }
    }
    if (!this.heap.isString(source)) throw new V8ReadError('script without source');
    return lineEndsOf(this.heap.string(source, MAX_SOURCE_CHARS));
  }
}
