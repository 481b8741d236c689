// record()'s on-CPU samples from perf events: the kernel samples every thread of the target at
// the recording's rate (of each thread's own run time), a native reader thread drains the
// rings, and each slot of the recording takes every sample taken since the previous slot (a
// thread that ran through several periods appears that many times: the rate is the kernel's,
// whatever the slots cost). Running threads are never stopped; blocked threads are still
// captured by a snapshot (off-CPU samples), which leaves the running ones out.
import { binding, type RawPerfRecorder, type RawPerfSample, type RawThreadCapture } from './addon';

export class PerfOnCpu {
  /** Samples the kernel or the reader dropped (full rings, a consumer that stopped pulling). */
  lost = 0;
  /** Samples handed out. */
  taken = 0;
  /** Threads the recorder sampled at the last next(): the capture leaves them out while running. */
  covered: number[] = [];
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

  /** Every sample taken since the last call, oldest first (only of `tids`, when given). */
  next(tids: number[] | undefined): RawThreadCapture[] {
    const batch = this.recorder.take();
    this.lost += batch.lost;
    this.covered = batch.covered;
    for (const [tid, name] of Object.entries(batch.names)) this.names.set(Number(tid), name);
    const out = batch.samples.filter((s) => tids === undefined || tids.includes(s.tid)).map((s) => this.toThread(s));
    this.taken += out.length;
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
      weightNs: s.weightNs,
      stackBytes: s.stack.length,
      stackLimited: s.stackCut,
      stack: s.stack,
    };
  }
}
