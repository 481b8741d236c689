// Why a Python frame, or the native eval frame that runs Python code, has no Python name: the
// python-* members of SymbolReason (explained in src/symbolize/reasons.ts).
import { SYMBOL_REASONS } from '../../symbolize/reasons';
import type { SymbolReason } from '../../types';

export type PythonReason = Extract<SymbolReason, `python-${string}`>;

export const PYTHON_REASONS: readonly PythonReason[] = Object.keys(SYMBOL_REASONS).filter((r): r is PythonReason =>
  r.startsWith('python-'),
);
