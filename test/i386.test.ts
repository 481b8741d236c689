// A 32-bit (i386) process: stackshot refuses it before any stop (EINVAL,
// 'unsupported-architecture', with a hint), and doctor agrees; the native capture, reached
// around that check, never reads registers the kernel did not return (a 32-bit tracee's
// NT_PRSTATUS is the smaller i386 set). eu-stack unwinds it: the process is a real i386 one.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { binding } from '../src/addon';
import { doctor } from '../src/doctor';
import { snapshot, snapshotSync, StackshotError } from '../src/index';
import { resolveOptions } from '../src/options';
import { buildCached, fixtureSource } from './helpers/fixtures';
import { tracerPid, waitUntil } from './helpers/proc';
import { euStack, HAVE_EU_STACK } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

/** gcc -m32 needs the i386 libc and libgcc (libc6-dev-i386, lib32gcc-12-dev). */
function buildI386(): string | null {
  const src = fixtureSource('i386');
  const version = execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
  try {
    return buildCached('i386', [version, '-m32', fs.readFileSync(src)], (tmp) => {
      execFileSync('gcc', ['-m32', '-O1', '-g', '-o', tmp, src], { stdio: ['ignore', 'pipe', 'pipe'] });
    });
  } catch {
    return null;
  }
}
const I386 = process.arch === 'x64' ? buildI386() : null;

describe('a 32-bit (i386) process', () => {
  it.skipIf(I386 === null)('is refused before any stop, and doctor agrees (needs gcc -m32)', async () => {
    const target = await startTarget(I386!);
    const err = await snapshot(target.pid).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackshotError);
    expect(err).toMatchObject({ code: 'EINVAL', reason: 'unsupported-architecture', pid: target.pid });
    expect((err as StackshotError).message).toMatch(/32-bit i386/);
    expect((err as StackshotError).hint).toMatch(/eu-stack/);
    expect(tracerPid(target.pid)).toBe(0);

    const report = doctor(target.pid);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.id === 'target')).toMatchObject({
      status: 'fail',
      code: 'EINVAL',
      reason: 'unsupported-architecture',
    });
  });

  it.skipIf(I386 === null)('the native capture never reads the x86-64 registers of an i386 thread', async () => {
    const target = await startTarget(I386!);
    // GETREGSET returns the i386 set (fewer bytes): its one thread fails with EINVAL, so the
    // whole capture does, instead of yielding a garbage pc.
    expect(() => binding.captureSync(target.pid, resolveOptions().raw)).toThrow(
      expect.objectContaining({ code: 'EINVAL', syscall: 'ptrace' }),
    );
    expect(spawnSync('kill', ['-0', String(target.pid)]).status).toBe(0); // left running
    expect(tracerPid(target.pid)).toBe(0);
  });

  // The second snapshot takes the pid on trust (preflight.ts trustedTarget): the capture itself
  // sees the new image (its auxv) and reads the executable again, and the refusal is the same.
  it.skipIf(I386 === null)('a process snapshotted before that then execs one is refused the same', async () => {
    const go = path.join(os.tmpdir(), `stackshot-i386-exec-${process.pid}-${Date.now()}`);
    const script = `echo ready; while [ ! -e '${go}' ]; do sleep 0.01; done; exec '${I386}'`;
    const target = await startTarget('/bin/sh', ['-c', script]);
    try {
      expect(snapshotSync(target.pid).pid).toBe(target.pid);
      fs.writeFileSync(go, '');
      await waitUntil(() => fs.readlinkSync(`/proc/${target.pid}/exe`) === I386);
      for (const take of [() => snapshot(target.pid), async () => snapshotSync(target.pid)]) {
        const err = await take().catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'EINVAL', reason: 'unsupported-architecture', pid: target.pid });
      }
      expect(tracerPid(target.pid)).toBe(0);
    } finally {
      fs.rmSync(go, { force: true });
    }
  });

  it.skipIf(I386 === null || !HAVE_EU_STACK)(
    'is a real i386 process: eu-stack unwinds it (needs eu-stack)',
    async () => {
      const target = await startTarget(I386!);
      // It prints `ready` on its way into wait_here: look until it is there (at most 10 s).
      let frames = euStack(target.pid).get(target.pid) ?? [];
      for (const until = Date.now() + 10_000; !frames.some((f) => f.name === 'wait_here') && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 50));
        frames = euStack(target.pid).get(target.pid) ?? [];
      }
      expect(frames.map((f) => f.name)).toEqual(expect.arrayContaining(['wait_here', 'main']));
      expect(frames.every((f) => BigInt(f.pc!) < 1n << 32n)).toBe(true);
    },
  );
});
