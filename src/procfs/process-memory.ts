// Reads of a live target's memory after its threads run again (runtime metadata: V8 heap
// objects, CPython frames), for one naming pass. Only pages the target has in memory are read:
// reading another would fault it in for us, or wait for the target's userfaultfd handler, which
// may never answer (native/binding/memory_binding.cc).
import { binding, type RawProcessMemory } from '../addon';

export class ProcessMemory {
  private handle: RawProcessMemory | undefined;

  constructor(readonly pid: number) {}

  /**
   * Up to `length` bytes (at most 1 MiB) at `address`, cut at the first page not in memory or
   * not readable. Files are opened at the first read: a pass that reads nothing opens none.
   */
  read(address: bigint, length: number): Buffer {
    this.handle ??= binding.openMemory(this.pid);
    return this.handle.read(address, length);
  }

  /** Closes the files; a later read opens them again. */
  close(): void {
    this.handle?.close();
    this.handle = undefined;
  }
}
