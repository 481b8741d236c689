// Runtime-specific checks for interpreted / JIT-compiled targets.
//
// Python: whether the interpreter was built with frame pointers, read the way PEP 831 describes
// (CPython 3.15 adds -fno-omit-frame-pointer to the CFLAGS that sysconfig exposes): by RUNNING
// the target's own interpreter binary once, as a separate new process,
//   <interpreter> -I -c "import sysconfig, json; print(json.dumps(...))"
// (-I: isolated mode; no user site, no PYTHON* environment variables). The target process itself
// is not touched. The last of -fno-omit-frame-pointer / -fomit-frame-pointer in CFLAGS decides,
// as in CPython's own test (Lib/test/test_frame_pointer_unwind.py); neither means the compiler
// default, which omits frame pointers at -O1 and above.
//
// Node: whether V8 writes a perf map (--perf-basic-prof, --perf-prof, ... in the command line
// or NODE_OPTIONS) and whether /tmp/perf-<pid>.map exists.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { framePointerFlag } from './dwarf-producer';
import { probePythonFrames } from '../runtimes/cpython/probe';
import { parseMaps } from '../procfs/maps';
import { findV8 } from '../runtimes/v8/runtime';
import { NODE_PERF_MAP_FLAGS } from '../symbolize/jit-hint';
import { leftByEarlierProcess } from '../symbolize/perf-map';
import type { NodeRuntime, PythonRuntime, V8Readability } from './types';

const PYTHON_EXE = /^python[0-9.]*[a-z]*$/;
const LIBPYTHON = /\/libpython[0-9.]+[a-z]*\.so/;
const NODE_EXE = /^(node|nodejs)$/;
const LIBNODE = /\/libnode\.so/;

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** argv of the process (NUL-separated in /proc/<pid>/cmdline). */
function cmdline(pid: number): string[] {
  const t = readText(`/proc/${pid}/cmdline`);
  return t === null ? [] : t.split('\0').filter((s) => s !== '');
}

/** The value of one environment variable of the process (readable by root or the same user). */
function environ(pid: number, name: string): string | null {
  const t = readText(`/proc/${pid}/environ`);
  if (t === null) return null;
  for (const kv of t.split('\0')) if (kv.startsWith(`${name}=`)) return kv.slice(name.length + 1);
  return null;
}

/** The pid the process has in its own pid namespace (the one V8 / Python name their perf map by). */
function namespacePid(pid: number): number {
  const status = readText(`/proc/${pid}/status`);
  const m = status === null ? null : /^NSpid:\s*(.*)$/m.exec(status);
  if (m === null) return pid;
  const ids = m[1].trim().split(/\s+/).map(Number);
  const last = ids[ids.length - 1];
  return Number.isInteger(last) && last > 0 ? last : pid;
}

/** /tmp/perf-<pid>.map as the target sees it (its own /tmp, its own pid), if it exists. */
export function findPerfMap(pid: number): string | null {
  const nsPid = namespacePid(pid);
  let ownRoot = true;
  try {
    ownRoot = fs.readlinkSync(`/proc/${pid}/root`) === '/';
  } catch {
    // cannot tell: assume the same root
  }
  const candidates = ownRoot
    ? [`/tmp/perf-${nsPid}.map`]
    : [`/proc/${pid}/root/tmp/perf-${nsPid}.map`, `/tmp/perf-${pid}.map`];
  for (const c of candidates) {
    try {
      const st = fs.statSync(c);
      if (st.isFile() && !leftByEarlierProcess(pid, st.mtimeMs)) return c;
    } catch {
      // not there
    }
  }
  return null;
}

export function exePath(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return null;
  }
}

/** Which runtimes the process is, from its executable and mapped modules. */
export function detectRuntimes(exe: string | null, modules: string[]): { python?: string; node?: string } {
  const out: { python?: string; node?: string } = {};
  if (exe !== null && PYTHON_EXE.test(path.basename(exe))) out.python = exe;
  else {
    const lib = modules.find((m) => LIBPYTHON.test(m));
    if (lib !== undefined) out.python = lib;
  }
  if (exe !== null && NODE_EXE.test(path.basename(exe))) out.node = exe;
  else {
    const lib = modules.find((m) => LIBNODE.test(m));
    if (lib !== undefined) out.node = lib;
  }
  return out;
}

const SYSCONFIG_CODE =
  "import sysconfig, json; print(json.dumps({k: sysconfig.get_config_var(k) for k in ('CFLAGS', 'PY_CFLAGS_NODIST')}))";

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 1 << 20, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${path.basename(file)} failed: ${stderr.trim().split('\n').pop() || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

/**
 * Why root must not run bin (null when it may): an interpreter another user owns or can write
 * would run that user's code as root. As any other user, we run only what that user could run.
 */
function untrustedAsRoot(bin: string): string | null {
  if (process.geteuid?.() !== 0) return null;
  const st = fs.statSync(bin);
  if (st.uid !== 0) return `not run: ${bin} is owned by uid ${st.uid}, and root runs only root-owned interpreters`;
  if ((st.mode & 0o022) !== 0) return `not run: ${bin} is writable by others, and root runs no such interpreter`;
  return null;
}

export async function auditPython(
  pid: number,
  exe: string | null,
  detectedBy: string,
  runInterpreter: boolean,
  timeoutMs: number,
): Promise<PythonRuntime> {
  const argv = cmdline(pid);
  const xPerf = argv.some(
    (a, i) => (a === '-X' && /^perf(_jit)?$/.test(argv[i + 1] ?? '')) || /^-Xperf(_jit)?$/.test(a),
  );
  const envPerf = environ(pid, 'PYTHONPERFSUPPORT');
  const result: PythonRuntime = {
    interpreter: null,
    detectedBy,
    cflags: null,
    builtWithFramePointers: null,
    perfTrampolineRequested: xPerf || (envPerf !== null && envPerf !== '' && envPerf !== '0'),
    perfMap: findPerfMap(pid),
    frames: probePythonFrames(pid),
  };
  const isInterpreter = exe !== null && PYTHON_EXE.test(path.basename(exe));
  if (!isInterpreter) {
    result.note = 'Python is embedded (the executable is not a python interpreter): CFLAGS not read';
    return result;
  }
  if (!runInterpreter) {
    result.note = 'not read: running the interpreter is opt-in (audit --interpreter)';
    return result;
  }
  // The path keeps argv[0] meaningful for the interpreter's prefix search; /proc/<pid>/exe
  // reaches the very binary even when the path was replaced or deleted.
  const candidates = [exe, `/proc/${pid}/exe`];
  for (const bin of candidates) {
    try {
      if (bin !== `/proc/${pid}/exe` && !fs.statSync(bin).isFile()) continue;
      const refusal = untrustedAsRoot(bin);
      if (refusal !== null) {
        result.note = refusal;
        continue;
      }
      const out = await run(bin, ['-I', '-c', SYSCONFIG_CODE], timeoutMs);
      const vars = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
        CFLAGS?: string | null;
        PY_CFLAGS_NODIST?: string | null;
      };
      result.interpreter = bin;
      result.cflags = vars.CFLAGS ?? '';
      const flag = framePointerFlag(`${vars.CFLAGS ?? ''} ${vars.PY_CFLAGS_NODIST ?? ''}`);
      result.builtWithFramePointers = flag === 'on';
      if (flag === null)
        result.note = 'no frame-pointer flag in CFLAGS: the compiler default (omitted at -O1 and above)';
      return result;
    } catch (e) {
      result.note = `could not run the interpreter: ${(e as Error).message}`;
    }
  }
  return result;
}

/** Whether the process's V8 carries metadata stackshot can read JS frames with. */
export function v8Readability(pid: number): V8Readability {
  let maps: string;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch (e) {
    return { module: null, readable: false, reason: `maps unreadable: ${(e as Error).message}` };
  }
  const v8 = findV8(pid, parseMaps(maps));
  if (v8 === undefined) {
    const reason = 'no V8 post-mortem metadata (v8dbg_* symbols) in the executable or libnode';
    return { module: null, readable: false, reason };
  }
  if (!v8.support.supported) return { module: v8.module, readable: false, reason: v8.support.reason };
  return { module: v8.module, readable: true, version: v8.support.layout.version };
}

const NODE_PERF_FLAGS = [
  '--perf-basic-prof',
  '--perf-basic-prof-only-functions',
  '--perf-prof',
  '--perf-prof-unwinding-info',
];

export function auditNode(pid: number): NodeRuntime {
  const argv = cmdline(pid);
  const nodeOptions = environ(pid, 'NODE_OPTIONS');
  // Node options end at the script name or -e / -p; a script's own `--perf-basic-prof` is not node's.
  const own: string[] = [];
  for (const a of argv.slice(1)) {
    if (!a.startsWith('-')) break;
    own.push(a);
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '-r' || a === '--require') break;
  }
  const all = [...own, ...(nodeOptions ?? '').split(/\s+/)].map((a) => a.replace(/_/g, '-').replace(/=.*$/, ''));
  const perfFlags = NODE_PERF_FLAGS.filter((f) => all.includes(f));
  const result: NodeRuntime = {
    perfFlags,
    interpretedFramesNativeStack: all.includes('--interpreted-frames-native-stack'),
    perfMap: findPerfMap(pid),
    v8: v8Readability(pid),
  };
  if (result.v8.readable) {
    if (perfFlags.length === 0) {
      result.note = `JS frames are named from V8's own memory (V8 ${result.v8.version}); no flag needed`;
    }
  } else if (perfFlags.length === 0) {
    result.note = `JS frames will be unnamed: start node with ${NODE_PERF_MAP_FLAGS}`;
  } else if (result.perfMap === null)
    result.note = `${perfFlags.join(' ')} is on but /tmp/perf-${pid}.map does not exist`;
  return result;
}
