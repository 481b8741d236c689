// V8's post-mortem metadata: the `v8dbg_*` data symbols a node binary carries (frame slot
// offsets, frame type markers, instance types, object field offsets). Their VALUES are read
// from the file (never from the target), once per file. A build without them, or one whose
// layout this reader does not know (pointer compression, 32-bit), is reported as such.
import { binding } from '../../addon';
import {
  ElfFile,
  SHT_DYNSYM,
  SHT_NOBITS,
  SHT_STRTAB,
  SHT_SYMTAB,
  SYM_SIZE,
  type SectionHeader,
} from '../../elf/elf-file';

/** Everything the V8 frame reader needs, in bytes (offsets) or V8's own numbering (types). */
export interface V8Layout {
  version: string;
  fp: { contextOrFrameType: number; function: number; bytecodeArray: number; bytecodeOffset: number; args: number };
  frameType: {
    entry: number;
    constructEntry: number;
    exit: number;
    builtinExit: number;
    stub: number;
    construct: number;
  };
  type: {
    jsFunction: number;
    sharedFunctionInfo: number;
    script: number;
    scopeInfo: number;
    bytecodeArray: number;
    byteArray: number;
    fixedArray: number;
    code: number;
    weakFixedArray: number;
    map: number;
    oddball: number;
    heapNumber: number;
    jsGlobalProxy: number;
    firstNonString: number;
  };
  string: {
    representationMask: number;
    encodingMask: number;
    seq: number;
    cons: number;
    sliced: number;
    thin: number;
    external: number;
    oneByte: number;
  };
  off: {
    map: number;
    mapInstanceType: number;
    mapConstructor: number;
    fixedArrayLength: number;
    fixedArrayData: number;
    stringLength: number;
    seqChars: number;
    consFirst: number;
    consSecond: number;
    slicedParent: number;
    slicedOffset: number;
    thinActual: number;
    jsFunctionShared: number;
    sfiNameOrScopeInfo: number;
    sfiFunctionData: number;
    sfiScript: number;
    /** SharedFunctionInfo's flags (a 32-bit field); -1 where this V8 does not export it. */
    sfiFlags: number;
    scriptName: number;
    scriptSource: number;
    scriptLineEnds: number;
    /** -1 where this V8 does not export them: eval scripts then have no origin. */
    scriptEvalFromShared: number;
    scriptEvalFromPosition: number;
    bytecodeData: number;
    bytecodeSourcePositions: number;
    jsFunctionCode: number;
    codeDeoptData: number;
    codeSourcePositions: number;
    codeInstructionStart: number;
    codeFlags: number;
    codeInstructionSize: number;
  };
  code: { kindMask: number; kindShift: number; baseline: number };
  deopt: { inlinedCount: number; literals: number; sharedInfo: number; inliningPositions: number };
  scopeInfo: { firstVars: number; contextLocalCount: number };
  /** kBytecodeSizes ([3][count] bytes), when the binary has the symbol. */
  bytecodeSizes?: Buffer;
}

export type V8Support = { supported: true; layout: V8Layout } | { supported: false; reason: string };

/** v8::internal::interpreter::Bytecodes::kBytecodeSizes: uint8_t [3][count], each bytecode's
 *  size at each operand scale (to step through bytecode, for Sparkplug frames' positions). */
export const BYTECODE_SIZES = '_ZN2v88internal11interpreter9Bytecodes14kBytecodeSizesE';

// The metadata, V8's version numbers (v8::internal::Version::major_ etc.), the bytecode sizes.
const PREFIXES = ['v8dbg_', '_ZN2v88internal7Version6', BYTECODE_SIZES];

/**
 * Reads every v8dbg_* symbol's 32-bit value (an empty map when the file has none); the bytes
 * of the bytecode size table go to `tables`, when given.
 */
export function readV8Symbols(elf: ElfFile, tables?: Map<string, Buffer>): Map<string, number> {
  const values = new Map<string, number>();
  // .dynsym first: node exports them there, and it is far smaller than .symtab.
  const symtabs = [
    ...elf.sections.filter((s) => s.type === SHT_DYNSYM),
    ...elf.sections.filter((s) => s.type === SHT_SYMTAB),
  ];
  for (const symtab of symtabs) {
    if (values.size > 0) break;
    if (symtab.entsize !== SYM_SIZE && symtab.entsize !== 0) continue;
    const strs = elf.sections[symtab.link];
    if (strs === undefined || strs.type !== SHT_STRTAB) continue;
    const names = elf.sectionData(strs);
    const found = binding.symbolsWithPrefix(elf.sectionData(symtab), names, PREFIXES);
    const data = new DataReader(elf, found.value);
    for (let k = 0; k < found.nameOff.length; k++) {
      const at = found.nameOff[k];
      const end = names.indexOf(0, at);
      const name = names.toString('latin1', at, end < 0 ? names.length : end);
      if (values.has(name)) continue;
      if (name === BYTECODE_SIZES) {
        const size = Number(found.size[k]);
        const bytes = size > 0 && size <= 3 * 256 ? data.read(found.value[k], size) : undefined;
        if (bytes !== undefined) tables?.set(name, bytes);
        continue;
      }
      const value = data.read(found.value[k], 4)?.readInt32LE(0);
      if (value !== undefined) values.set(name, value);
    }
  }
  return values;
}

/** The widest span of one section read at once for its data symbols (node's v8dbg_* span 120 KB). */
const MAX_SPAN = 1 << 20;
/** Room after a span's last symbol: the longest value read (the bytecode sizes, 3 × 256). */
const TAIL = 3 * 256;

/**
 * Data symbols' bytes, from their sections (zeros in .bss). The symbols of one section are read
 * in one span, not one read each: node's 531 values took 2.6 ms one by one.
 */
class DataReader {
  private readonly spans = new Map<SectionHeader, { at: bigint; bytes: Buffer | undefined }>();
  private last: SectionHeader | undefined;

  /** `addrs`: the addresses that will be read (the span of each section covers them). */
  constructor(
    private readonly elf: ElfFile,
    addrs: BigUint64Array,
  ) {
    const bounds = new Map<SectionHeader, { lo: bigint; hi: bigint }>();
    for (const addr of addrs) {
      const s = this.sectionOf(addr, 1);
      if (s === undefined || s.type === SHT_NOBITS) continue;
      const b = bounds.get(s);
      if (b === undefined) bounds.set(s, { lo: addr, hi: addr });
      else if (addr < b.lo) b.lo = addr;
      else if (addr > b.hi) b.hi = addr;
    }
    for (const [s, { lo, hi }] of bounds) {
      const end = s.addr + BigInt(s.size);
      const length = Number((hi + BigInt(TAIL) < end ? hi + BigInt(TAIL) : end) - lo);
      if (length <= MAX_SPAN) this.spans.set(s, { at: lo, bytes: this.readAt(s, lo, length) });
    }
  }

  /** `length` bytes at link-time address `addr`; undefined outside every section. */
  read(addr: bigint, length: number): Buffer | undefined {
    const s = this.sectionOf(addr, length);
    if (s === undefined) return undefined;
    if (s.type === SHT_NOBITS) return Buffer.alloc(length);
    const span = this.spans.get(s);
    if (span?.bytes !== undefined && addr >= span.at && addr + BigInt(length) <= span.at + BigInt(span.bytes.length)) {
      const from = Number(addr - span.at);
      return span.bytes.subarray(from, from + length);
    }
    return this.readAt(s, addr, length);
  }

  /** The section holding [addr, addr + length); the last one found is tried first (they cluster). */
  private sectionOf(addr: bigint, length: number): SectionHeader | undefined {
    const end = addr + BigInt(length);
    const holds = (sec: SectionHeader): boolean =>
      sec.addr !== 0n && addr >= sec.addr && end <= sec.addr + BigInt(sec.size);
    if (this.last === undefined || !holds(this.last)) this.last = this.elf.sections.find(holds);
    return this.last;
  }

  private readAt(s: SectionHeader, addr: bigint, length: number): Buffer | undefined {
    try {
      return this.elf.source.read(s.offset + Number(addr - s.addr), length);
    } catch {
      return undefined;
    }
  }
}

type Get = (name: string, fallback?: number) => number;

/** Why this V8's pointer size or tagging scheme is not one we read, or undefined when it is. */
function unsupportedScheme(get: Get): string | undefined {
  if (get('SystemPointerSize', 8) !== 8) return 'not a 64-bit V8';
  if (get('TaggedSize', 8) !== 8) return 'pointer compression (4-byte tagged values): not supported yet';
  if (
    get('HeapObjectTag') !== 1 ||
    get('HeapObjectTagMask') !== 3 ||
    get('SmiTagMask') !== 1 ||
    get('SmiShiftSize', 31) !== 31
  ) {
    return 'unexpected tagging scheme';
  }
  return undefined;
}

/**
 * The layout, field by field, from the v8dbg_* values (`get` records a missing one).
 * long-function: a flat table of names; split, it would only scatter them.
 */
function readLayout(get: Get, values: Map<string, number>): V8Layout {
  const fixedArrayLength = get('class_FixedArrayBase__length__SMI');
  const codeSourcePositions = get('class_Code__source_position_table__ByteArray');
  const part = (p: string): number | undefined => values.get(`_ZN2v88internal7Version6${p}_E`);
  return {
    version: [part('major'), part('minor'), part('build'), part('patch')].every((v) => v !== undefined)
      ? [part('major'), part('minor'), part('build'), part('patch')].join('.')
      : 'unknown',
    fp: {
      contextOrFrameType: get('off_fp_context_or_frame_type'),
      function: get('off_fp_function'),
      bytecodeArray: get('off_fp_bytecode_array'),
      bytecodeOffset: get('off_fp_bytecode_offset'),
      args: get('off_fp_args'),
    },
    frameType: {
      entry: get('frametype_EntryFrame'),
      constructEntry: get('frametype_ConstructEntryFrame'),
      exit: get('frametype_ExitFrame'),
      builtinExit: get('frametype_BuiltinExitFrame'),
      stub: get('frametype_StubFrame'),
      construct: get('frametype_ConstructFrame'),
    },
    type: {
      jsFunction: get('type_JSFunction__JS_FUNCTION_TYPE'),
      sharedFunctionInfo: get('type_SharedFunctionInfo__SHARED_FUNCTION_INFO_TYPE'),
      script: get('type_Script__SCRIPT_TYPE'),
      scopeInfo: get('type_ScopeInfo__SCOPE_INFO_TYPE'),
      bytecodeArray: get('type_BytecodeArray__BYTECODE_ARRAY_TYPE'),
      byteArray: get('type_ByteArray__BYTE_ARRAY_TYPE'),
      fixedArray: get('type_FixedArray__FIXED_ARRAY_TYPE'),
      code: get('type_Code__CODE_TYPE'),
      weakFixedArray: get('type_WeakFixedArray__WEAK_FIXED_ARRAY_TYPE'),
      map: get('type_Map__MAP_TYPE'),
      oddball: get('type_Oddball__ODDBALL_TYPE'),
      heapNumber: get('type_HeapNumber__HEAP_NUMBER_TYPE'),
      jsGlobalProxy: get('type_JSGlobalProxy__JS_GLOBAL_PROXY_TYPE'),
      firstNonString: get('FirstNonstringType'),
    },
    string: {
      representationMask: get('StringRepresentationMask'),
      encodingMask: get('StringEncodingMask'),
      seq: get('SeqStringTag', 0),
      cons: get('ConsStringTag'),
      sliced: get('SlicedStringTag'),
      thin: get('ThinStringTag'),
      external: get('ExternalStringTag'),
      oneByte: get('OneByteStringTag'),
    },
    off: {
      map: get('class_HeapObject__map__Map', 0),
      mapInstanceType: get('class_Map__instance_type__uint16_t'),
      mapConstructor: get('class_Map__constructor_or_back_pointer__Object'),
      fixedArrayLength,
      fixedArrayData: get('class_FixedArray__data__uintptr_t'),
      stringLength: get('class_String__length__int32_t'),
      seqChars: get('class_SeqOneByteString__chars__char'),
      consFirst: get('class_ConsString__first__String'),
      consSecond: get('class_ConsString__second__String'),
      slicedParent: get('class_SlicedString__parent__String'),
      slicedOffset: get('class_SlicedString__offset__SMI'),
      thinActual: get('class_ThinString__actual__String'),
      jsFunctionShared: get('class_JSFunction__shared__SharedFunctionInfo'),
      sfiNameOrScopeInfo: get('class_SharedFunctionInfo__name_or_scope_info__Object'),
      sfiFunctionData: get('class_SharedFunctionInfo__function_data__Object'),
      sfiScript: get('class_SharedFunctionInfo__script_or_debug_info__HeapObject'),
      sfiFlags: get('class_SharedFunctionInfo__flags__int', -1),
      scriptName: get('class_Script__name__Object'),
      scriptSource: get('class_Script__source__Object'),
      scriptLineEnds: get('class_Script__line_ends__Object', -1),
      scriptEvalFromShared: get('class_Script__eval_from_shared_or_wrapped_arguments__Object', -1),
      scriptEvalFromPosition: get('class_Script__eval_from_position__SMI', -1),
      bytecodeData: get('class_BytecodeArray__data__uintptr_t'),
      // Not exported since V8 9.4; unchanged since: length, constant pool, handler table, then it.
      bytecodeSourcePositions:
        values.get('v8dbg_class_BytecodeArray__source_position_table__Object') ?? fixedArrayLength + 3 * 8,
      // Fields V8 11 stopped exporting, where they have stayed since (as the OpenTelemetry
      // profiler also finds them); every use checks what it reads (a pc inside the code).
      jsFunctionCode:
        values.get('v8dbg_class_JSFunction__code__Code') ?? get('class_JSFunction__shared__SharedFunctionInfo') + 3 * 8,
      codeDeoptData: get('class_Code__deoptimization_data__FixedArray'),
      codeSourcePositions: codeSourcePositions,
      codeInstructionStart: values.get('v8dbg_class_Code__instruction_start__uintptr_t') ?? codeSourcePositions + 2 * 8,
      codeFlags: values.get('v8dbg_class_Code__flags__uint32_t') ?? codeSourcePositions + 3 * 8,
      codeInstructionSize: values.get('v8dbg_class_Code__instruction_size__int') ?? codeSourcePositions + 4 * 8,
    },
    code: {
      kindMask: get('CodeKindFieldMask'),
      kindShift: get('CodeKindFieldShift', 0),
      baseline: get('CodeKindBaseline'),
    },
    deopt: {
      inlinedCount: get('DeoptimizationDataInlinedFunctionCountIndex'),
      literals: get('DeoptimizationDataLiteralArrayIndex'),
      sharedInfo: get('DeoptimizationDataSharedFunctionInfoIndex'),
      inliningPositions: get('DeoptimizationDataInliningPositionsIndex'),
    },
    scopeInfo: { firstVars: get('scopeinfo_idx_first_vars'), contextLocalCount: get('scopeinfo_idx_ncontextlocals') },
  };
}

/** Validates the metadata and builds the layout, or says why V8 frames cannot be read. */
export function v8Layout(values: Map<string, number>, tables?: Map<string, Buffer>): V8Support {
  if (values.size === 0) return { supported: false, reason: 'no V8 post-mortem metadata (v8dbg_* symbols)' };
  const missing: string[] = [];
  const get = (name: string, fallback?: number): number => {
    const v = values.get(`v8dbg_${name}`);
    if (v !== undefined) return v;
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return 0;
  };
  const unsupported = unsupportedScheme(get);
  if (unsupported !== undefined) return { supported: false, reason: unsupported };
  const layout = readLayout(get, values);
  if (missing.length > 0) return { supported: false, reason: `V8 metadata lacks ${missing.slice(0, 3).join(', ')}` };
  // Each size counts the opcode and its operands: 1 to 31 bytes (without it, Sparkplug frames
  // get their function's line).
  const sizes = tables?.get(BYTECODE_SIZES);
  if (sizes !== undefined && sizes.length % 3 === 0 && sizes.every((b) => b > 0 && b < 32))
    layout.bytecodeSizes = sizes;
  return { supported: true, layout };
}
