// Every reason a frame can give for having no name (or for keeping its native one), and what
// each means: the one list. The README's table of reasons is checked against it
// (test/symbol-reasons.test.ts).
import type { SymbolReason } from '../types';

export const SYMBOL_REASONS: Readonly<Record<SymbolReason, string>> = {
  'no-mapping': 'the pc lies in no mapping (unmapped code, e.g. a dlclose’d library)',
  'module-unreadable': 'the mapped file could not be opened or read (symbolDetail says why)',
  'module-changed': 'another file is mapped at that address now than at the capture',
  'module-invalid': 'the mapped file is not a usable ELF file: not ELF, truncated, corrupt tables',
  'vdso-unreadable': 'the vdso image could not be read from the process',
  'outside-loadable-segments': "the address lies outside the file's loadable segments",
  'no-function-symbols': 'the file has no function symbols (stripped, no debug file)',
  'no-symbol-covers': 'no function symbol covers the address',
  'no-perf-map': 'anonymous memory (JIT code) and no perf map, and no runtime named it',
  'perf-map-refused': 'the process’s perf map exists but was refused (symbolDetail says why)',
  'not-in-perf-map': 'anonymous memory that no line of the perf map covers',
  'v8-unsupported': 'this node’s V8 frames cannot be read (no metadata, pointer compression, ...)',
  'v8-frame-unreadable': 'the JavaScript function of this V8 frame did not check out (the heap moved)',
  'python-version-unsupported': 'the Python version is known, but stackshot has no layout for it',
  'python-build-unsupported': 'a Python build laid out differently: debug or free-threaded',
  'python-version-unknown': 'neither Py_Version nor the file name tells the Python version',
  'python-runtime-not-found': 'the interpreter exports no _PyRuntime, or its type objects are missing',
  'python-runtime-unreadable': '_PyRuntime or its interpreter list could not be read or did not check out',
  'python-thread-state-not-found': 'no Python thread state belongs to this thread (it may have exited)',
  'python-frame-unreadable': 'a Python frame of the chain could not be read (the thread moved on)',
  'python-code-invalid': 'the Python frame’s code object did not check out',
  'python-chain-invalid': 'the Python frame chain loops, or is longer than any real one',
  'python-stack-changed': 'the Python frames read after the resume do not match the captured native ones',
};
