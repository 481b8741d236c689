// doctor's perf-events check: can running threads be sampled without a stop here (and of pid)?
// It asks the kernel: the sampling event stackshot uses is opened disabled (it never runs, the
// thread pays nothing) and closed. A refusal is a warning, not a failure: ptrace still works.
import * as fs from 'node:fs';

import { binding } from './addon';
import type { DoctorCheck } from './doctor';
import { readProcStatus } from './procfs/proc-status';
import { hasCapability } from './procfs/ptrace-rules';

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const PARANOID_FILE = '/proc/sys/kernel/perf_event_paranoid';

function readParanoid(): number | null {
  try {
    const v = Number(fs.readFileSync(PARANOID_FILE, 'utf8').trim());
    return Number.isInteger(v) ? v : null;
  } catch {
    return null;
  }
}

/** The probe: '' when the event opens on tid (0: ourselves), else the errno name. */
function probe(tid: number): string {
  try {
    // Throws where the addon did not load (doctor runs there too).
    return binding.probePerf(tid);
  } catch (e) {
    return `addon: ${(e as Error).message.split('\n')[0]}`;
  }
}

function whyRefused(
  code: string,
  paranoid: number | null,
  privileged: boolean,
  seccomp: boolean,
  ofTarget: boolean,
): string {
  if (code === 'ENOENT' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
    return 'this kernel (or VM) offers no software perf events (CONFIG_PERF_EVENTS); nothing to change: ptrace is used';
  }
  const fixes: string[] = [];
  if (seccomp) {
    fixes.push(
      "a seccomp filter on this process may refuse perf_event_open (Docker's default profile does): " +
        'docker/podman --security-opt seccomp=<a profile allowing perf_event_open>, Kubernetes seccompProfile Unconfined or a custom profile',
    );
  }
  if (!privileged) {
    if (paranoid !== null && paranoid > 2) {
      fixes.push(
        `kernel.perf_event_paranoid is ${paranoid} (no perf events without privilege): sudo sysctl kernel.perf_event_paranoid=2`,
      );
    }
    if (ofTarget && paranoid !== null && paranoid >= 2) {
      fixes.push(
        `another user's process needs privilege at perf_event_paranoid ${paranoid}: sudo sysctl kernel.perf_event_paranoid=1`,
      );
    }
    if (ofTarget || (paranoid !== null && paranoid > 2)) {
      fixes.push(
        'or give node CAP_PERFMON (sudo setcap cap_perfmon+ep "$(readlink -f "$(which node)")"; ' +
          'containers: --cap-add PERFMON), or run stackshot as root',
      );
    }
  }
  return fixes.length > 0 ? fixes.join('; ') : 'run stackshot as root or with CAP_PERFMON';
}

/** The 'perf-events' check: of this process, and of pid's main thread when given. */
export function perfEventsCheck(pid?: number): DoctorCheck {
  const paranoid = readParanoid();
  const me = readProcStatus('self');
  const privileged = hasCapability(me.capEff, CAP_PERFMON) || hasCapability(me.capEff, CAP_SYS_ADMIN);
  let seccomp = false;
  try {
    seccomp = /^Seccomp:\s*2$/m.test(fs.readFileSync('/proc/self/status', 'utf8'));
  } catch {
    // no status: seccomp unknown
  }
  const setting = `perf_event_paranoid ${paranoid ?? 'unknown'}, ${privileged ? 'CAP_PERFMON or CAP_SYS_ADMIN' : 'no CAP_PERFMON'}`;
  const own = probe(0);
  const ofTarget = own === '' && pid !== undefined ? probe(pid) : own;
  if (own === '' && ofTarget === '') {
    const what = pid === undefined ? 'here' : `for pid ${pid}`;
    return {
      id: 'perf-events',
      status: 'ok',
      detail: `perf events usable ${what}: running threads are sampled without a stop (${setting})`,
    };
  }
  const code = own !== '' ? own : ofTarget;
  const whose = own !== '' ? 'on this process' : `on pid ${pid}`;
  return {
    id: 'perf-events',
    status: 'warn',
    detail: `perf_event_open refused ${whose} (${code}; ${setting}): running threads are stopped with ptrace instead (~80 µs each)`,
    fix: whyRefused(code, paranoid, privileged, seccomp, own === ''),
  };
}
