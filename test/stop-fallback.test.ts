// The chooser's TS half (src/capture/stop-fallback.ts): which stop-free captures are taken
// again with a stop, and why. A pure decision on the capture and its walk's end: a table.
import { describe, expect, it } from 'vitest';
import type { RawCapture, RawThreadCapture, RawUnwound } from '../src/addon';
import { threadsNeedingStop } from '../src/capture/stop-fallback';
import type { CapturePath, EndReason } from '../src/types';

function decide(capture: CapturePath, end: EndReason): string | undefined {
  const raw = { threads: [{ tid: 7, capture } as RawThreadCapture] } as RawCapture;
  return threadsNeedingStop(raw, [{ end } as RawUnwound]).get(7);
}

describe('threadsNeedingStop', () => {
  it.each<[CapturePath, EndReason, string | undefined]>([
    ['ptrace', 'register-unknown', undefined], // a stopped capture is final
    ['ptrace', 'stack-unreadable', undefined],
    ['blocked', 'register-unknown', 'register-unknown'],
    ['blocked', 'stack-unreadable', undefined], // the blocked copy read resident pages: a real hole
    ['blocked', 'thread-entry', undefined],
    ['perf', 'register-unknown', 'register-unknown'],
    ['perf', 'copy-exhausted', 'sample-too-short'],
    // The kernel's copy stops at a page it cannot read without a fault; a stop can read it.
    ['perf', 'stack-unreadable', 'sample-too-short'],
    ['perf', 'interrupted-stack-unreadable', 'sample-too-short'],
    ['perf', 'thread-entry', undefined],
  ])('%s capture ending %s: %s', (capture, end, why) => {
    expect(decide(capture, end)).toBe(why);
  });
});
