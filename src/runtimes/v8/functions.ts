// What V8 keeps about a function, from its SharedFunctionInfo: its name (a String, or in its
// ScopeInfo), where it starts, its script's name and the script's line ends.
import type { CodePositions } from './code-positions';
import { HeaderCache } from './header-cache';
import { isHeapObject, isSmi, MAX_SOURCE_CHARS, smiValue, V8Heap, V8ReadError } from './heap';
import { lineAndColumn, lineEndsOf } from './source-positions';

/** V8 inlines at most this many context locals' names in a ScopeInfo (kScopeInfoMaxInlinedLocalNamesSize). */
const MAX_INLINED_LOCAL_NAMES = 75;
/** Scripts whose line ends are kept; a long-running process has few distinct scripts on its stacks. */
const MAX_CACHED_SCRIPTS = 256;
/** Evals nested deeper than this are written without their outer origins. */
const MAX_EVAL_DEPTH = 8;

export interface ScriptInfo {
  source: bigint;
  file?: string;
  lineEnds?: ArrayLike<number>;
  lineReason?: string;
  /** Compiled by eval (or new Function): V8 names its nameless top-level code `eval`. */
  isEval?: boolean;
}

export interface SharedInfo {
  name: string;
  /** The name is the one V8 inferred from where the function was stored (`o.h = function`). */
  inferred?: true;
  startPosition?: number;
  script: ScriptInfo;
}

export class V8Functions {
  private readonly scripts = new Map<bigint, ScriptInfo>();
  private readonly shared = new HeaderCache<SharedInfo>();

  constructor(
    private readonly heap: V8Heap,
    private readonly code: CodePositions,
  ) {}

  /** A SharedFunctionInfo's name, start and script: cached while its fields stay the same. */
  sharedInfo(tagged: bigint): SharedInfo {
    const L = this.heap.layout;
    const header = this.heap.header(tagged, Math.max(L.off.sfiNameOrScopeInfo, L.off.sfiScript) + 8);
    if (header === undefined) throw new V8ReadError('unreadable SharedFunctionInfo');
    if (header.type !== L.type.sharedFunctionInfo)
      throw new V8ReadError(`SharedFunctionInfo expected, instance type ${header.type} found`);
    return this.shared.get(tagged, header.bytes, () => {
      const { name, startPosition, inferred } = this.functionName(tagged - 1n);
      const info: SharedInfo = { name, script: this.script(header.bytes.readBigUInt64LE(L.off.sfiScript)) };
      if (inferred === true) info.inferred = true;
      if (startPosition !== undefined) info.startPosition = startPosition;
      return info;
    });
  }

  /** The function's name (SharedFunctionInfo: a String, or a ScopeInfo that holds it) and start. */
  private functionName(sfi: bigint): { name: string; startPosition?: number; inferred?: true } {
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
    // The function's own name comes first ('' when anonymous), then the name V8 inferred from
    // where the function was stored (`o.h` for `o.h = function () {}`), used when it has none.
    let name = '';
    let anonymous = false;
    let prev = 1n;
    const result = (startPosition?: number): { name: string; startPosition?: number; inferred?: true } => {
      const r: { name: string; startPosition?: number; inferred?: true } = { name };
      if (startPosition !== undefined) r.startPosition = startPosition;
      if (anonymous && name !== '') r.inferred = true;
      return r;
    };
    for (let i = 0; i < SLOTS; i++) {
      const w = rest.readBigUInt64LE(8 * i);
      if (name === '' && isHeapObject(w) && this.heap.isString(w)) {
        name = this.heap.string(w);
        if (name === '') anonymous = true;
      }
      if (isSmi(w) && isSmi(prev) && i > 0 && smiValue(prev) >= 0 && smiValue(prev) < smiValue(w)) {
        return result(smiValue(prev));
      }
      prev = w;
    }
    return result();
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
    else {
      // V8's stack traces write an eval script's frames as `eval at f (/x.js:8:13), <anonymous>`.
      const origin = this.evalOrigin(script, 0);
      if (origin !== undefined) {
        info.file = `${origin}, <anonymous>`;
        info.isEval = true;
      }
    }
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

  /**
   * Where an eval script came from, as V8's FormatEvalOrigin writes it: `eval at f (/x.js:8:13)`,
   * nested evals inside one another; undefined for a script that eval did not compile.
   */
  private evalOrigin(script: bigint, depth: number): string | undefined {
    const L = this.heap.layout;
    if (L.off.scriptEvalFromShared < 0) return undefined;
    const from = this.heap.field(script, L.off.scriptEvalFromShared);
    // The field holds wrapped arguments, or nothing, for scripts that are not evals.
    if (!isHeapObject(from) || this.heap.typeOf(from) !== L.type.sharedFunctionInfo) return undefined;
    const name = this.functionName(from - 1n).name || '<anonymous>';
    const outerTagged = this.heap.field(from - 1n, L.off.sfiScript);
    if (!isHeapObject(outerTagged) || this.heap.typeOf(outerTagged) !== L.type.script) return `eval at ${name}`;
    const outer = outerTagged - 1n;
    const outerName = this.heap.field(outer, L.off.scriptName);
    if (!this.heap.isString(outerName)) {
      const nested = depth < MAX_EVAL_DEPTH ? this.evalOrigin(outer, depth + 1) : undefined;
      return `eval at ${name} (${nested ?? 'unknown source'})`;
    }
    let where = this.heap.string(outerName);
    const position = this.evalPosition(script, from);
    const lineEnds = position === undefined ? undefined : this.script(outerTagged).lineEnds;
    const lc = lineEnds === undefined ? undefined : lineAndColumn(lineEnds, position!);
    if (lc !== undefined) where += `:${lc.line}:${lc.column}`;
    return `eval at ${name} (${where})`;
  }

  /**
   * The source position of the eval call: Script::eval_from_position, or, until V8 translated
   * it, minus the bytecode offset of the call in the calling function (Script::GetEvalPosition).
   */
  private evalPosition(script: bigint, from: bigint): number | undefined {
    const L = this.heap.layout;
    if (L.off.scriptEvalFromPosition < 0) return undefined;
    const raw = this.heap.field(script, L.off.scriptEvalFromPosition);
    if (!isSmi(raw)) return undefined;
    const position = smiValue(raw);
    if (position >= 0) return position;
    const data = this.heap.field(from - 1n, L.off.sfiFunctionData);
    const header = this.heap.header(data, L.off.bytecodeSourcePositions + 8);
    if (header === undefined || header.type !== L.type.bytecodeArray) return undefined;
    const at = this.code.bytecodePosition(data - 1n, header.bytes, -position);
    return typeof at === 'number' ? at : undefined;
  }
}
