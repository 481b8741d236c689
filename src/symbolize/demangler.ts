// Demangled names of C++ and Rust symbols, remembered: the same few thousand names recur in
// every snapshot. The demangler itself is the addon's; without one, names stay as they are.
const DEMANGLE_CAP = 65536;

export class Demangler {
  private readonly demangled = new Map<string, string>();

  constructor(private readonly demangle?: (mangled: string) => string | null) {}

  name(raw: string): string {
    // _Z: Itanium C++ and legacy Rust; _R: Rust v0.
    if (this.demangle === undefined || !(raw.startsWith('_Z') || raw.startsWith('_R'))) return raw;
    let s = this.demangled.get(raw);
    if (s === undefined) {
      let d: string | null = null;
      try {
        d = this.demangle(raw);
      } catch {
        // A demangler failure must not lose the frame: keep the raw name.
      }
      s = d ?? raw;
      if (this.demangled.size >= DEMANGLE_CAP) this.demangled.clear();
      this.demangled.set(raw, s);
    }
    return s;
  }
}
