// How V8's own stack traces name a call (CallSiteInfo, AppendMethodCall): a construct call is
// `new Order`; a method call is prefixed with its receiver's type, the name of the function
// that constructed it (`Shop.checkout`, `Object.<anonymous>`), or for a class itself (a static
// method's receiver) the class's name (`Shop.open`, where a plain function receiver gives
// `Function.run`); a call without a receiver (undefined, or the global proxy) is the
// function's name alone. `[as alias]` is not given.
import { isSmi, V8Heap, V8ReadError } from './heap';
import { HeaderCache } from './header-cache';
import type { V8Functions } from './functions';

/** JSFunction and its subclasses (class constructors, builtin constructors) share a type range. */
export const JS_FUNCTION_TYPES = 16;
/** Maps point back through their transition tree to the root map, which holds the constructor. */
const MAX_BACK_POINTERS = 64;
/**
 * SharedFunctionInfo flags (shared-function-info.tq, V8 8 to 12; not in the metadata): the
 * function kind in bits 0-4, is_strict bit 6, is_class_constructor bit 10. A class constructor
 * is strict and of a constructor kind (3 to 6): a flags word that says otherwise is not read.
 */
const SFI_KIND_MASK = 0x1f;
const SFI_STRICT = 1 << 6;
const SFI_CLASS_CONSTRUCTOR = 1 << 10;
const CLASS_CONSTRUCTOR_KINDS = [3, 4, 5, 6];

export class CallNames {
  /** Receiver type name by map: maps seldom move, and the header check catches those that do. */
  private readonly typeNames = new HeaderCache<string | undefined>();

  constructor(
    private readonly heap: V8Heap,
    private readonly functions: V8Functions,
  ) {}

  /**
   * The name V8's stack trace gives a frame of `name`: `receiver` is the frame's receiver slot,
   * `construct` whether its caller is a construct frame.
   */
  display(name: string, receiver: bigint, construct: boolean): string {
    if (construct) return `new ${name || '<anonymous>'}`;
    const type = this.typeName(receiver);
    if (type === undefined) return name;
    if (name === '') return `${type}.<anonymous>`;
    return name.startsWith(`${type}.`) ? name : `${type}.${name}`;
  }

  /** The receiver's type name, or undefined for none (no receiver, or none V8 would print). */
  private typeName(receiver: bigint): string | undefined {
    const L = this.heap.layout;
    if (isSmi(receiver)) return 'Number';
    const header = this.heap.header(receiver, 8);
    if (header === undefined) return undefined;
    const t = header.type;
    if (t === L.type.oddball || t === L.type.jsGlobalProxy) return undefined; // a plain call
    if (t < L.type.firstNonString) return 'String';
    if (t === L.type.heapNumber) return 'Number';
    if (t >= L.type.jsFunction && t < L.type.jsFunction + JS_FUNCTION_TYPES) {
      const name = this.className(receiver);
      if (name !== undefined) return name;
    }
    const map = header.bytes.readBigUInt64LE(L.off.map);
    const mapHeader = this.heap.header(map, L.off.mapConstructor + 8);
    if (mapHeader === undefined) return undefined;
    return this.typeNames.get(map, mapHeader.bytes, () => this.constructorName(mapHeader.bytes));
  }

  /** A class constructor's name (V8 prints it for its static methods), else undefined. */
  private className(fn: bigint): string | undefined {
    const L = this.heap.layout;
    if (L.off.sfiFlags < 0) return undefined;
    try {
      const shared = this.heap.field(fn - 1n, L.off.jsFunctionShared);
      if (this.heap.typeIfObject(shared) !== L.type.sharedFunctionInfo) return undefined;
      const flags = this.heap.read(shared - 1n + BigInt(L.off.sfiFlags), 4).readUInt32LE(0);
      const isClass = (flags & SFI_CLASS_CONSTRUCTOR) !== 0 && (flags & SFI_STRICT) !== 0;
      if (!isClass || !CLASS_CONSTRUCTOR_KINDS.includes(flags & SFI_KIND_MASK)) return undefined;
      const name = this.functions.sharedInfo(shared).name;
      return name === '' ? undefined : name;
    } catch (e) {
      if (e instanceof V8ReadError) return undefined;
      throw e;
    }
  }

  /** The name of the function a map's root map says constructed its objects. */
  private constructorName(mapHeader: Buffer): string | undefined {
    const L = this.heap.layout;
    let c = mapHeader.readBigUInt64LE(L.off.mapConstructor);
    for (let i = 0; i < MAX_BACK_POINTERS && this.heap.typeIfObject(c) === L.type.map; i++) {
      c = this.heap.field(c - 1n, L.off.mapConstructor);
    }
    const t = this.heap.typeIfObject(c);
    if (t === undefined || t < L.type.jsFunction || t >= L.type.jsFunction + JS_FUNCTION_TYPES) return undefined;
    const name = this.functions.sharedInfo(this.heap.field(c - 1n, L.off.jsFunctionShared)).name;
    return name === '' ? undefined : name;
  }
}
