// Why a Python frame, or the native eval frame that runs Python code, has no Python name.
// A closed set: each is a frame's `symbolReason` as is.
export type PythonReason =
  /** The interpreter's version is known, but stackshot has no layout for it (never guessed). */
  | 'python-version-unsupported'
  /** A build whose objects are laid out differently: debug (Py_REF_DEBUG) or free-threaded. */
  | 'python-build-unsupported'
  /** Neither Py_Version nor the file name tells the interpreter's version. */
  | 'python-version-unknown'
  /** The interpreter module exports no _PyRuntime, or its type objects are missing. */
  | 'python-runtime-not-found'
  /** _PyRuntime or its interpreter list could not be read or did not check out. */
  | 'python-runtime-unreadable'
  /** No Python thread state belongs to this thread (it may have exited meanwhile). */
  | 'python-thread-state-not-found'
  /** A frame of the chain could not be read (the thread moved on, or memory was freed). */
  | 'python-frame-unreadable'
  /** The frame's code object is not a code object, or its fields do not check out. */
  | 'python-code-invalid'
  /** The frame chain loops back on itself, or is longer than any real one. */
  | 'python-chain-invalid'
  /** The Python frames read after the resume do not match the captured native frames. */
  | 'python-stack-changed';

export const PYTHON_REASONS: readonly PythonReason[] = [
  'python-version-unsupported',
  'python-build-unsupported',
  'python-version-unknown',
  'python-runtime-not-found',
  'python-runtime-unreadable',
  'python-thread-state-not-found',
  'python-frame-unreadable',
  'python-code-invalid',
  'python-chain-invalid',
  'python-stack-changed',
];
