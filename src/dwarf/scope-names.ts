// The C++ scope of each function entry in a unit: `std::`, `std::thread::_Invoker<…>::`,
// `(anonymous namespace)::`, from the DW_TAG_namespace / class / struct / union entries that
// enclose it. A DWARF name without a linkage name is qualified with it, as gdb qualifies it:
// an entity local to a function, or a member of an unnamed class (a lambda's closure type),
// gets no scope at all (gdb prints a lambda's body as plain `operator()`).
import { DwarfReader } from './reader';
import { DW_AT, DW_TAG, readValue, skipValue, type DebugSections, type Unit } from './units';

const CLASS_TAGS: ReadonlySet<number> = new Set([DW_TAG.class_type, DW_TAG.structure_type, DW_TAG.union_type]);

/** The scope inside a DIE with children, given the scope around it ('' when none qualifies). */
function innerScope(tag: number, name: string | undefined, outer: string): string {
  if (tag === DW_TAG.namespace) return `${outer}${name ?? '(anonymous namespace)'}::`;
  if (CLASS_TAGS.has(tag)) return name === undefined ? '' : `${outer}${name}::`;
  return ''; // a function's, a block's or the unit's own entities
}

/**
 * The scope prefix (e.g. 'std::') of every DW_TAG_subprogram entry of a prepared unit (its
 * abbreviations read), by .debug_info offset. Throws on a unit it cannot walk.
 */
export function subprogramScopes(unit: Unit, sections: DebugSections): Map<number, string> {
  const abbrevs = unit.abbrevs!;
  const scopes = new Map<number, string>();
  const r = new DwarfReader(sections.info, unit.dieStart, unit.end);
  const outer: string[] = []; // the scope around each open level of children
  let scope = '';
  while (r.pos < unit.end) {
    const at = r.pos;
    const code = r.uleb();
    if (code === 0) {
      if (outer.length === 0) break; // padding after the unit DIE's children
      scope = outer.pop()!;
      continue;
    }
    const abbrev = abbrevs.get(code);
    if (abbrev === undefined) throw new RangeError(`abbreviation ${code} at 0x${at.toString(16)}`);
    let name: string | undefined;
    const { specs, implicit } = abbrev;
    for (let i = 0; i < specs.length; i += 2) {
      if (specs[i] !== DW_AT.name) {
        skipValue(r, specs[i + 1], unit);
        continue;
      }
      const v = readValue(r, specs[i + 1], implicit[i >> 1], unit, sections);
      if (typeof v === 'string') name = v;
    }
    if (abbrev.tag === DW_TAG.subprogram) scopes.set(at, scope);
    if (abbrev.children) {
      outer.push(scope);
      scope = innerScope(abbrev.tag, name, scope);
    }
  }
  return scopes;
}
