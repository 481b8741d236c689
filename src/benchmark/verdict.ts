// The run in one paragraph of plain words: what frame pointers lose here, what hybrid
// unwinding costs and recovers, what each capture path costs the target, what naming costs.
import { baseName, dur, num, plural, times } from './format-units';
import type { BenchmarkReport, MethodResult, PathResult } from './types';

function methodsSentence(r: BenchmarkReport): string | null {
  const [fp, hybrid] = r.methods as [MethodResult, MethodResult];
  if (hybrid.stacks === 0) return null;
  const cost =
    `${dur(hybrid.walkNsPerFrame.median)} per frame, ${dur(hybrid.walkNsPerStack.median)} per stack ` +
    `(frame pointers alone: ${dur(fp.walkNsPerFrame.median)} per frame, ${dur(fp.walkNsPerStack.median)} per stack of ${fp.frames.median === 1 ? '1 frame' : `${num(fp.frames.median)} frames`})`;
  const { lost, recovered, breakers } = r.fpLoss;
  const where = breakers.length > 0 ? `, mostly in ${baseName(breakers[0]!.module)}` : '';
  const over = `${plural(hybrid.stacks, 'stack')} (${plural(r.plan.threads, 'thread')} × ${plural(r.rounds, 'round')})`;
  let s =
    lost === 0
      ? `Frame pointers alone lose none of ${over} here; hybrid unwinding walks at ${cost}`
      : `Frame pointers alone lose ${lost} of ${over} here${where}; hybrid unwinding recovers ${recovered === lost ? 'all of them' : `${recovered} of them`} at ${cost}`;
  const incomplete = hybrid.stacks - hybrid.complete;
  if (incomplete > 0) {
    const top = Object.entries(hybrid.ends).sort((a, b) => b[1] - a[1])[0];
    s += `; ${plural(incomplete, 'stack')} stay incomplete even so${top ? ` (mostly ${top[0]})` : ''}`;
  }
  return s + '.';
}

function pathPhrase(p: PathResult): string {
  const k = p.kernel;
  const kernel =
    k.contextSwitches.median === null
      ? ''
      : ` (the kernel counted ${k.contextSwitches.median} context switch${k.contextSwitches.median === 1 ? '' : 'es'} and ${dur(k.runDelayNs.median)} of run delay per thread over a capture)`;
  return `${dur(p.pauseNs.median)} per stopped thread${kernel}`;
}

function pathsSentence(r: BenchmarkReport): string | null {
  const by = new Map(r.paths.map((p) => [p.path, p]));
  const rolling = by.get('ptrace-rolling');
  const consistent = by.get('ptrace-consistent');
  const free = by.get('stop-free');
  if (rolling === undefined || rolling.captures === 0) return null;
  let s = `A ptrace stop, one thread at a time, costs ${pathPhrase(rolling)}`;
  if (consistent !== undefined && consistent.captures > 0) {
    s += `; all threads stopped together, ${dur(consistent.pauseNs.median)} each`;
  }
  if (free !== undefined && free.captures > 0) {
    const total = free.notStopped + free.pauseNs.n;
    s += `; the stop-free path served ${free.notStopped} of ${plural(total, 'thread capture')} without a stop`;
  }
  return s + '.';
}

function namingSentence(r: BenchmarkReport): string | null {
  const n = r.naming;
  if (n.frames === 0) return null;
  const sources = Object.entries(n.sources)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const disk = n.coldDiskCacheNsPerFrame === null ? '' : `, ${dur(n.coldDiskCacheNsPerFrame)} from the module cache`;
  return `Naming costs ${dur(n.coldNsPerFrame)} per frame cold (files parsed${disk}) and ${dur(n.warmNsPerFrame)} warm; frames named by ${sources}.`;
}

function referencesSentence(r: BenchmarkReport): string | null {
  if (r.references === undefined) return null;
  const ran = r.references.filter((x) => x.status === 'ran' && x.wallRatio !== undefined);
  const missing = r.references.filter((x) => x.status === 'missing').map((x) => x.tool);
  const parts = ran.map((x) => `${x.tool} took ${times(x.wallRatio)} stackshot's time per snapshot`);
  if (missing.length > 0) parts.push(`not installed: ${missing.join(', ')}`);
  return parts.length === 0 ? null : `${parts.join('; ')}.`;
}

export function verdict(r: BenchmarkReport): string {
  const parts = [methodsSentence(r), pathsSentence(r), namingSentence(r), referencesSentence(r)];
  if (r.partial !== undefined) parts.unshift(`Partial: ${r.partial.message}.`);
  return parts.filter((p): p is string => p !== null).join(' ');
}
