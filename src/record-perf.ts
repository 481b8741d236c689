// record()'s on-CPU samples from perf events: the kernel samples every thread of the target at
// the recording's rate (of each thread's own run time), a native reader thread drains the
// rings, and each slot of the recording takes, per thread, the oldest sample it has not used
// yet. Running threads are never stopped; blocked threads are still captured by a snapshot
// (off-CPU samples), which leaves the running ones out.
import { binding, type RawPerfRecorder, type RawPerfSample, type RawThreadCapture } from './addon';

/** Samples kept per thread for later slots (a consumer slower than the rate drops the oldest). */
const BACKLOG = 8;

export class PerfOnCpu {
  /** Samples the kernel, the reader or the backlog dropped. */
  lost = 0;
  private readonly queued = new Map<number, RawPerfSample[]>();
  private readonly names = new Map<number, string>();

  private constructor(private readonly recorder: RawPerfRecorder) {}

  /** Starts sampling pid at hz; the errno name when perf events cannot be used (then: snapshots). */
  static open(pid: number, hz: number, stackBytes: number): PerfOnCpu | string {
    try {
      return new PerfOnCpu(
        binding.openPerfRecorder(pid, { periodNs: Math.round(1e9 / hz), stackBytes: Math.min(stackBytes, 65528) }),
      );
    } catch (e) {
      return (e as { code?: string }).code ?? 'EIO';
    }
  }

  /** One sample per thread that ran since it was last sampled (only `tids`, when given). */
  next(tids: number[] | undefined): RawThreadCapture[] {
    const batch = this.recorder.take();
    this.lost += batch.lost;
    for (const [tid, name] of Object.entries(batch.names)) this.names.set(Number(tid), name);
    for (const s of batch.samples) {
      const q = this.queued.get(s.tid) ?? [];
      q.push(s);
      if (q.length > BACKLOG) {
        q.shift();
        this.lost++;
      }
      this.queued.set(s.tid, q);
    }
    const out: RawThreadCapture[] = [];
    for (const [tid, q] of this.queued) {
      const s = q.shift();
      if (q.length === 0) this.queued.delete(tid);
      if (s === undefined || (tids !== undefined && !tids.includes(tid))) continue;
      out.push(this.toThread(s));
    }
    return out;
  }

  close(): void {
    this.recorder.close();
  }

  private toThread(s: RawPerfSample): RawThreadCapture {
    return {
      tid: s.tid,
      name: this.names.get(s.tid) ?? '',
      state: 'R',
      status: 'captured',
      errno: 0,
      syscall: '',
      reinjectedSignal: 0,
      pauseNs: 0,
      capture: 'perf',
      captureFallback: '',
      pc: s.pc,
      sp: s.sp,
      fp: s.fp,
      lr: s.lr,
      regs: s.regs,
      stackBytes: s.stack.length,
      stackLimited: s.stackCut,
      stack: s.stack,
    };
  }
}
