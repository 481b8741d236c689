// One V8 stack frame, read from the target after it resumed: the slot at fp + off_fp_context_
// or_frame_type holds either a frame-type marker (entry, exit, stub, builtin frames: they keep
// their native names) or a context (a JavaScript frame). A JS frame's function sits at
// fp + off_fp_function; an interpreted frame also holds its bytecode array and offset.
import { CallNames, JS_FUNCTION_TYPES } from './call-names';
import { CodePositions } from './code-positions';
import { V8Functions } from './functions';
import { isSmi, smiValue, V8Heap, V8ReadError } from './heap';
import { lineAndColumn } from './source-positions';

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

/** Frame-type markers are small enums shifted left by the Smi tag size. */
const MAX_FRAME_TYPE = 64;

export class V8FrameReader {
  private readonly functions: V8Functions;
  private readonly code: CodePositions;
  private readonly calls: CallNames;

  constructor(readonly heap: V8Heap) {
    this.code = new CodePositions(heap);
    this.functions = new V8Functions(heap, this.code);
    this.calls = new CallNames(heap, this.functions);
  }

  /**
   * Reads the frame whose frame pointer is fp; `at` is its pc's lookup address (lookupAddress:
   * pc - 1 for a return address), pcIn says what code it is in.
   */
  read(fp: bigint, at: bigint, pcIn: V8Code, stack?: StackCopy): V8Frame {
    try {
      return this.readFrame(fp, at, pcIn, stack);
    } catch (e) {
      // Builtins are stubs of many frame layouts, and may not have built their frame yet:
      // one that is not a JavaScript builtin's own frame is no error, just not JavaScript.
      if (e instanceof V8ReadError)
        return pcIn === 'builtin' ? { kind: 'internal' } : { kind: 'unreadable', reason: e.message };
      throw e;
    }
  }

  private readFrame(fp: bigint, at: bigint, pcIn: V8Code, stack?: StackCopy): V8Frame {
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
    const { name, startPosition, script, inferred } = this.functions.sharedInfo(sfiTagged);
    // A builtin's own JavaScript frame is a builtin function's (no script); V8's nameless
    // closures (promise reactions, async resumption) are not in JavaScript stack traces.
    if (pcIn === 'builtin' && (name === '' || script.source !== 0n)) return { kind: 'internal' };
    const own = name === '' && script.isEval === true ? 'eval' : name;
    const js: JsFrameName = { name: this.callName(fp, own, stack, inferred === true), tier: 'optimized' };
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
      const at = this.code.bytecodePosition(bytecode - 1n, bytecodeHeader!.bytes, offset);
      if (typeof at === 'number') position = at;
      else lineReason = at.reason;
    } else if (pcIn === 'jit') {
      const jit = this.jitPosition(at, fnHeader.bytes, sfiTagged, bytecode, isBytecode ? bytecodeHeader : undefined);
      js.tier = jit.tier;
      position = jit.position;
      inlined = jit.inlined;
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

  /**
   * Tier and source position of a frame whose pc is in JIT code: from the function's code, else
   * (tiered up since the frame was entered) its Sparkplug code; with the calls inlined at the pc.
   * `bytecodeHeader` is the frame's BytecodeArray, when its slot holds one.
   */
  private jitPosition(
    at: bigint,
    fnBytes: Buffer,
    sfiTagged: bigint,
    bytecode: bigint,
    bytecodeHeader: { bytes: Buffer } | undefined,
  ): { tier: JsTier; position?: number; inlined?: JsFrameName[] } {
    const L = this.heap.layout;
    const code =
      this.code.runningCode(fnBytes.readBigUInt64LE(L.off.jsFunctionCode), at) ??
      this.code.runningCode(this.heap.field(sfiTagged - 1n, L.off.sfiFunctionData), at);
    const tier: JsTier = code !== undefined ? code.tier : bytecodeHeader !== undefined ? 'baseline' : 'optimized';
    if (code?.tier === 'baseline' && bytecodeHeader !== undefined) {
      // V8's baseline table maps a pc offset to the bytecode whose code ends at or after it:
      // the byte at the lookup address belongs to the bytecode that ends after it.
      const at = this.code.baselinePosition(
        code.code,
        code.header,
        code.offset + 1,
        bytecode - 1n,
        bytecodeHeader.bytes,
      );
      return typeof at === 'number' ? { tier, position: at } : { tier };
    }
    if (code?.tier === 'optimized') {
      const at = this.code.optimizedPosition(code.code, code.header, code.offset, sfiTagged);
      if (at === undefined) return { tier };
      if (at.inlined.length === 0) return { tier, position: at.position };
      const inlined = at.inlined.map((f) => this.inlinedFrame(f.sfi, f.position, tier));
      return { tier, position: at.position, inlined };
    }
    return { tier };
  }

  /** The frame's name as V8's stack trace writes it: `new F`, `Type.method`, or the name. */
  private callName(fp: bigint, name: string, stack: StackCopy | undefined, inferred: boolean): string {
    const L = this.heap.layout;
    const word = (addr: bigint): bigint => {
      const off = stack === undefined ? -1n : addr - stack.base;
      return off >= 0n && off + 8n <= BigInt(stack!.bytes.length)
        ? stack!.bytes.readBigUInt64LE(Number(off))
        : this.heap.word(addr);
    };
    // The caller's frame is a construct frame (its marker says so) for `new F()`.
    const marker = word(word(fp) + BigInt(L.fp.contextOrFrameType));
    const construct = isSmi(marker) && marker === BigInt(L.frameType.construct) << 1n;
    // V8 writes an inferred name as it is (`o.h`), with no receiver type before it.
    if (inferred && !construct) return name;
    return this.calls.display(name, word(fp + BigInt(L.fp.args)), construct);
  }

  /** A function inlined into optimized code, named from its SharedFunctionInfo (tagged). */
  private inlinedFrame(sfiTagged: bigint, position: number, tier: JsTier): JsFrameName {
    const { name, script } = this.functions.sharedInfo(sfiTagged);
    const js: JsFrameName = { name: name === '' && script.isEval === true ? 'eval' : name, tier };
    if (script.file !== undefined) js.file = script.file;
    const lc = script.lineEnds === undefined || position < 0 ? undefined : lineAndColumn(script.lineEnds, position);
    if (lc !== undefined) {
      js.line = lc.line;
      js.column = lc.column;
    }
    return js;
  }
}
