// When a process started, on the wall clock (what file times are in): its start time from
// /proc/<pid>/stat (clock ticks since boot) against the time since boot from /proc/uptime,
// both as this process sees them (a time namespace shifts them alike). Precise to ~10 ms.
import * as fs from 'node:fs';
import { parseProcStat } from './preflight';

/** The kernel reports /proc times in USER_HZ ticks: 100 a second on every Linux node runs on. */
const TICK_MS = 10;

/** The process's start time, as the stat field names it (ticks since boot); undefined when gone. */
export function startTicks(pid: number): string | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).startTime;
  } catch {
    return undefined;
  }
}

/** Wall-clock ms at which a process whose stat says `ticks` started. */
export function startedAtMs(ticks: string): number {
  const uptimeS = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Date.now() - (uptimeS * 1000 - Number(ticks) * TICK_MS);
}
