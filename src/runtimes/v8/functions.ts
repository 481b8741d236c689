// What V8 keeps about a function, from its SharedFunctionInfo: its name (a String, or in its
// ScopeInfo), where it starts, its script's name and the script's line ends.
import { HeaderCache } from './header-cache';
import { isHeapObject, isSmi, MAX_SOURCE_CHARS, smiValue, V8Heap, V8ReadError } from './heap';
import { lineEndsOf } from './source-positions';

/** V8 inlines at most this many context locals' names in a ScopeInfo (kScopeInfoMaxInlinedLocalNamesSize). */
const MAX_INLINED_LOCAL_NAMES = 75;
/** Scripts whose line ends are kept; a long-running process has few distinct scripts on its stacks. */
const MAX_CACHED_SCRIPTS = 256;

export interface ScriptInfo {
  source: bigint;
  file?: string;
  lineEnds?: ArrayLike<number>;
  lineReason?: string;
}

export interface SharedInfo {
  name: string;
  startPosition?: number;
  script: ScriptInfo;
}

export class V8Functions {
  private readonly scripts = new Map<bigint, ScriptInfo>();
  private readonly shared = new HeaderCache<SharedInfo>();

  constructor(private readonly heap: V8Heap) {}

  /** A SharedFunctionInfo's name, start and script: cached while its fields stay the same. */
  sharedInfo(tagged: bigint): SharedInfo {
    const L = this.heap.layout;
    const header = this.heap.header(tagged, Math.max(L.off.sfiNameOrScopeInfo, L.off.sfiScript) + 8);
    if (header === undefined) throw new V8ReadError('unreadable SharedFunctionInfo');
    if (header.type !== L.type.sharedFunctionInfo)
      throw new V8ReadError(`SharedFunctionInfo expected, instance type ${header.type} found`);
    return this.shared.get(tagged, header.bytes, () => {
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
