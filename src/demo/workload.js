'use strict';
// The process `stackshot demo` takes a snapshot of. Three threads worth looking at:
//
//   main thread     idle in the event loop (a setInterval timer): epoll_wait in libuv
//   "js-primes"     a worker spinning in JavaScript: computePrimes → isPrime → hasDivisor
//   "js-waiter"     a worker blocked in Atomics.wait: a futex wait inside V8
//
// plus the threads every Node process has (V8 platform workers, the libuv thread pool, ...).
// Run it yourself with
//
//   node --perf-basic-prof --interpreted-frames-native-stack workload.js
//
// (those two flags make V8 write /tmp/perf-<pid>.map so JS frames get their names; Node 20
// also drops an isolate-*-v8.log file in the current directory), wait for "ready", then run
// `stackshot <pid>` in another terminal.
//
// It exits when its stdin is a pipe that closes (so it never outlives `stackshot demo`), and
// after 10 minutes at the latest.

const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const v8 = require('node:v8');

// V8 inlines small hot functions into their callers, and an inlined function has no frame of
// its own. Turn that off so computePrimes → isPrime → hasDivisor all show in the stack.
v8.setFlagsFromString('--no-turbo-inlining');

/** Name the calling OS thread; the name shows in `stackshot`, `top -H` and `ps -L`. */
function nameThisThread(name) {
  try {
    fs.writeFileSync('/proc/thread-self/comm', name);
  } catch {
    // not Linux, or /proc not mounted: keep the default name
  }
}

// --- worker: spin in JavaScript --------------------------------------------------------------

function hasDivisor(n, from) {
  for (let d = from; d * d <= n; d += 2) {
    if (n % d === 0) return true;
  }
  return false;
}

function isPrime(n) {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  return !hasDivisor(n, 3);
}

function computePrimes(limit) {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    if (isPrime(n)) count++;
  }
  return count;
}

function spinForever() {
  for (;;) computePrimes(200_000);
}

// --- worker: block in Atomics.wait -----------------------------------------------------------

function waitForever() {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0); // nobody ever notifies: sleeps in the kernel
}

// --- main thread -----------------------------------------------------------------------------

function startWorker(role) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: role });
    worker.once('message', () => resolve(worker)); // the worker says it is about to start
    worker.once('error', reject);
  });
}

async function main() {
  await Promise.all([startWorker('primes'), startWorker('waiter')]);

  setInterval(() => {}, 1000); // keeps the main thread idle in the event loop

  // The perf map V8 writes is ours to remove when we leave (stackshot demo removes it too, but
  // it may not know our pid yet when it is interrupted).
  process.on('exit', () => {
    try {
      fs.rmSync(`/tmp/perf-${process.pid}.map`, { force: true });
    } catch {
      // nothing to remove
    }
  });

  // When started through a pipe (as `stackshot demo` does), leave as soon as the other end
  // goes away, whatever happened to it. And never run for more than 10 minutes.
  const stdin = fs.fstatSync(0);
  if (stdin.isFIFO() || stdin.isSocket()) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
  setTimeout(() => process.exit(0), 10 * 60 * 1000).unref();

  console.log('ready');
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else if (workerData === 'primes') {
  nameThisThread('js-primes');
  computePrimes(20_000); // compiled and on its way: from now on it is always on the stack
  parentPort.postMessage('running');
  spinForever();
} else if (workerData === 'waiter') {
  nameThisThread('js-waiter');
  parentPort.postMessage('running');
  waitForever();
}
