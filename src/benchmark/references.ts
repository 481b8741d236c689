// `compare`: the same process through the tools people already use, in the same run: eu-stack
// and gdb (one snapshot each: wall time and frames per thread), `perf record --call-graph fp`
// and `--call-graph dwarf` (a short sampling: frames per sampled stack). Missing tools are
// named, never an error.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { distribution } from './distribution';
import type { ReferenceResult, ReferenceTool } from './types';

export const REFERENCE_TOOLS: readonly ReferenceTool[] = ['eu-stack', 'gdb', 'perf-fp', 'perf-dwarf'];

/** The executable each reference needs. */
const EXECUTABLE: Record<ReferenceTool, string> = {
  'eu-stack': 'eu-stack',
  gdb: 'gdb',
  'perf-fp': 'perf',
  'perf-dwarf': 'perf',
};

/** How long a reference may run before it is ended (gdb on a big process is slow). */
const TIMEOUT_MS = 60_000;
/** How long perf samples the target. */
const PERF_SECONDS = 1;
/** Output kept from one tool. */
const MAX_OUTPUT = 64 << 20;

/** The executable's path on PATH, or null. */
export function findOnPath(name: string, searchPath = process.env.PATH ?? ''): string | null {
  for (const dir of searchPath.split(':')) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      if (fs.statSync(file).isFile()) {
        fs.accessSync(file, fs.constants.X_OK);
        return file;
      }
    } catch {
      /* not here */
    }
  }
  return null;
}

export function installedReferences(): { installed: ReferenceTool[]; missing: ReferenceTool[] } {
  const installed = REFERENCE_TOOLS.filter((t) => findOnPath(EXECUTABLE[t]) !== null);
  return { installed, missing: REFERENCE_TOOLS.filter((t) => !installed.includes(t)) };
}

interface Ran {
  stdout: string;
  wallNs: number;
}

/** Runs a tool; SIGTERM at the timeout lets gdb detach (a SIGKILLed gdb could leave the target stopped). */
function run(file: string, args: string[]): Promise<Ran> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: TIMEOUT_MS, killSignal: 'SIGTERM', maxBuffer: MAX_OUTPUT, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const wallNs = Number(process.hrtime.bigint() - t0);
        if (err) {
          const why = stderr.trim().split('\n').slice(-1)[0] || err.message;
          reject(new Error(`${path.basename(file)} failed: ${why}`));
        } else resolve({ stdout, wallNs });
      },
    );
  });
}

/** Frames per block: a block starts at a line matching `start`, frames are lines matching `frame`. */
function framesPerBlock(text: string, start: RegExp, frame: RegExp): number[] {
  const counts: number[] = [];
  for (const line of text.split('\n')) {
    if (start.test(line)) counts.push(0);
    else if (counts.length > 0 && frame.test(line)) counts[counts.length - 1]!++;
  }
  return counts;
}

/** perf script: a header line (the tid), then one indented line per frame, then a blank line. */
function perfStacks(text: string): number[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => block.split('\n').filter((l) => /^\s+\S/.test(l)).length)
    .filter((n) => n > 0);
}

async function runPerf(
  perf: string,
  pid: number,
  tool: 'perf-fp' | 'perf-dwarf',
): Promise<{ ran: Ran; stacks: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-bench-perf-'));
  const data = path.join(dir, 'perf.data');
  try {
    // The command the report shows (argsOf), quiet and into our own file.
    const [record, ...rest] = argsOf(tool, pid);
    const rec = await run(perf, [record!, '-q', '-o', data, ...rest]);
    const script = await run(perf, ['script', '-i', data, '-F', 'tid,ip,sym']);
    return { ran: { stdout: script.stdout, wallNs: rec.wallNs + script.wallNs }, stacks: perfStacks(script.stdout) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function argsOf(tool: ReferenceTool, pid: number): string[] {
  switch (tool) {
    case 'eu-stack':
      return ['-p', String(pid)];
    case 'gdb':
      return ['-batch', '-nx', '-p', String(pid), '-ex', 'thread apply all bt'];
    case 'perf-fp':
    case 'perf-dwarf':
      return [
        'record',
        '--call-graph',
        tool === 'perf-fp' ? 'fp' : 'dwarf',
        '-F',
        '99',
        '-p',
        String(pid),
        '--',
        'sleep',
        String(PERF_SECONDS),
      ];
  }
}

async function measure(tool: ReferenceTool, file: string, pid: number): Promise<{ wallNs: number; stacks: number[] }> {
  if (tool === 'perf-fp' || tool === 'perf-dwarf') {
    const p = await runPerf(file, pid, tool);
    return { wallNs: p.ran.wallNs, stacks: p.stacks };
  }
  const r = await run(file, argsOf(tool, pid));
  const stacks =
    tool === 'eu-stack'
      ? framesPerBlock(r.stdout, /^TID \d+:/, /^#\d+\s/)
      : framesPerBlock(r.stdout, /^Thread \d+ /, /^#\d+\s/);
  return { wallNs: r.wallNs, stacks };
}

/** stackshot's own figures the references are compared with. */
export interface Baseline {
  /** Median time of one snapshot (capture, walk, naming), ns. */
  snapshotNs: number | null;
  /** Median frames per stack (hybrid). */
  frames: number | null;
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number | undefined =>
  a != null && b != null && b > 0 ? a / b : undefined;

/** Runs every reference once, one after the other; missing and failing ones say so. */
export async function runReferences(pid: number, baseline: Baseline): Promise<ReferenceResult[]> {
  const out: ReferenceResult[] = [];
  for (const tool of REFERENCE_TOOLS) {
    const file = findOnPath(EXECUTABLE[tool]);
    if (file === null) {
      out.push({ tool, status: 'missing' });
      continue;
    }
    const command = [EXECUTABLE[tool], ...argsOf(tool, pid)].join(' ');
    try {
      const m = await measure(tool, file, pid);
      const frames = distribution(m.stacks);
      const perSnapshot = tool === 'eu-stack' || tool === 'gdb';
      out.push({
        tool,
        status: 'ran',
        command,
        wallNs: m.wallNs,
        ...(perSnapshot ? { wallRatio: ratio(m.wallNs, baseline.snapshotNs) } : {}),
        stacks: m.stacks.length,
        frames,
        framesRatio: ratio(frames.median, baseline.frames),
      });
    } catch (err) {
      out.push({ tool, status: 'failed', command, error: (err as Error).message });
    }
  }
  return out;
}

/** Every reference as not run: installed ones failed for `why`, the others missing. */
export function skippedReferences(why: string): ReferenceResult[] {
  return REFERENCE_TOOLS.map((tool) =>
    findOnPath(EXECUTABLE[tool]) === null ? { tool, status: 'missing' } : { tool, status: 'failed', error: why },
  );
}
