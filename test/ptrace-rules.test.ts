// The ptrace attach rules as pure decisions: facts in, reason and hint out, one row per rule and
// per order between rules (a tracer beats Yama, Yama beats credentials, CAP_SYS_PTRACE skips 3-4).
import { describe, expect, it } from 'vitest';

import type { ErrorReason } from '../src/errors';
import type { ProcStatus } from '../src/procfs/proc-status';
import {
  CAP_SYS_PTRACE,
  CONTAINER_HINT,
  explainPermission,
  SUDO_HINT,
  UNEXPLAINED_HINT,
  yamaVerdict,
  type PermissionFacts,
  type YamaAllows,
} from '../src/procfs/ptrace-rules';

const CAP = 1n << BigInt(CAP_SYS_PTRACE);

function target(over: Partial<ProcStatus> = {}): ProcStatus {
  const ids = [1000, 1000, 1000, 1000];
  return {
    name: 'app',
    state: 'S',
    tgid: 42,
    pid: 42,
    ppid: 1,
    tracerPid: 0,
    uid: ids,
    gid: ids,
    capPrm: 0n,
    capEff: 0n,
    ...over,
  };
}

/** Same uid, no Yama, dumpable, no capability: the kernel allows it. */
function facts(over: Partial<PermissionFacts> = {}): PermissionFacts {
  return {
    pid: 42,
    target: target(),
    tracerComm: null,
    yamaScope: null,
    self: { pid: 7, uid: 1000, gid: 1000, capPrm: 0n, capEff: 0n },
    isDescendant: false,
    dumpable: true,
    userNames: new Map([
      [1000, 'ann'],
      [1001, 'bob'],
    ]),
    ...over,
  };
}
const root = { pid: 7, uid: 0, gid: 0, capPrm: 0n, capEff: 0n };
const rootWithCap = { ...root, capPrm: CAP, capEff: CAP };

describe('explainPermission', () => {
  const rows: [string, PermissionFacts, ErrorReason, string | RegExp][] = [
    ['the target is gone', facts({ target: null }), 'unknown', 'the process is gone; try again with a live pid'],
    [
      'another tracer, even for root',
      facts({ target: target({ tracerPid: 99 }), tracerComm: 'gdb', self: rootWithCap }),
      'already-traced',
      /detach or quit pid 99 \(gdb\)/,
    ],
    [
      'Yama 3, even for root',
      facts({ yamaScope: 3, self: rootWithCap }),
      'yama',
      /set kernel.yama.ptrace_scope to 0, 1 or 2/,
    ],
    [
      'Yama 2 without the capability',
      facts({ yamaScope: 2 }),
      'yama',
      `${SUDO_HINT}; or lower the scope: sudo sysctl kernel.yama.ptrace_scope=1 (or 0)`,
    ],
    ['Yama 2 with it', facts({ yamaScope: 2, self: rootWithCap }), 'unknown', UNEXPLAINED_HINT],
    ['Yama 1, not a descendant', facts({ yamaScope: 1 }), 'yama', /PR_SET_PTRACER/],
    ['Yama 1, a descendant', facts({ yamaScope: 1, isDescendant: true }), 'unknown', UNEXPLAINED_HINT],
    [
      'Yama 1 before credentials',
      facts({ yamaScope: 1, target: target({ uid: [0, 0, 0, 0] }) }),
      'yama',
      /PR_SET_PTRACER/,
    ],
    [
      'another user',
      facts({ target: target({ uid: [1001, 1001, 1001, 1001] }) }),
      'other-uid',
      'run stackshot as uid 1001 (bob) or as root (sudo)',
    ],
    [
      'a setuid-root process',
      facts({ target: target({ uid: [1000, 0, 0, 0] }) }),
      'other-uid',
      'run stackshot as root (sudo)',
    ],
    ['root without the capability', facts({ self: root }), 'no-capability', /--cap-add SYS_PTRACE/],
    ['another group', facts({ target: target({ gid: [1000, 50, 50, 50] }) }), 'other-uid', SUDO_HINT],
    [
      'more capabilities than ours',
      facts({ target: target({ capPrm: 1n << 12n }) }),
      'no-capability',
      `${SUDO_HINT}; ${CONTAINER_HINT}`,
    ],
    ['not dumpable', facts({ dumpable: false }), 'not-dumpable', /non-dumpable process/],
    [
      'not dumpable, but we have the capability',
      facts({ dumpable: false, self: { ...rootWithCap, uid: 1000, gid: 1000 } }),
      'unknown',
      UNEXPLAINED_HINT,
    ],
    ['nothing explains it', facts(), 'unknown', UNEXPLAINED_HINT],
  ];
  it.each(rows)('%s', (_, f, reason, hint) => {
    const d = explainPermission(f);
    expect(d.reason).toBe(reason);
    if (typeof hint === 'string') expect(d.hint).toBe(hint);
    else expect(d.hint).toMatch(hint);
  });
});

describe('yamaVerdict', () => {
  const rows: [number | null, boolean, YamaAllows][] = [
    [null, false, 'any'],
    [0, false, 'any'],
    [1, false, 'descendants'],
    [1, true, 'any'],
    [2, false, 'none'],
    [2, true, 'any'],
    [3, false, 'none'],
    [3, true, 'none'],
  ];
  it.each(rows)('scope %s, capability %s: %s', (scope, cap, allows) => {
    const v = yamaVerdict(scope, cap);
    expect(v.allows).toBe(allows);
    if (scope !== null) expect(v.text).toContain(`kernel.yama.ptrace_scope is ${scope}`);
    expect(v.hint === undefined).toBe(allows === 'any');
  });
});
