// Durations, sizes and ratios as the bench report prints them.

export function dur(ns: number | null | undefined): string {
  if (ns == null || !Number.isFinite(ns)) return 'n/a';
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

export function bytes(b: number | null | undefined): string {
  if (b == null || !Number.isFinite(b)) return 'n/a';
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(2)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}

export function times(r: number | null | undefined): string {
  if (r == null || !Number.isFinite(r)) return 'n/a';
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(r < 0.1 ? 3 : 2)}×`;
}

export function num(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return 'n/a';
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The file name of a module path: "/lib/x86_64-linux-gnu/libc.so.6" → "libc.so.6". */
export function baseName(module: string): string {
  return module.startsWith('/') ? module.slice(module.lastIndexOf('/') + 1) : module;
}
