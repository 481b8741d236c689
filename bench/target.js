// Builds and starts the benchmark target: test/fixtures/threads.c, started as a grandchild
// (libuv reaps direct children and would steal ptrace stops).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const FLAGS = ['-O1', '-g', '-fno-omit-frame-pointer', '-mno-omit-leaf-frame-pointer', '-fno-optimize-sibling-calls', '-pthread'];

function buildFixture() {
  const source = path.join(__dirname, '..', 'test', 'fixtures', 'threads.c');
  const hash = crypto.createHash('sha1').update(fs.readFileSync(source)).update(FLAGS.join(' ')).digest('hex').slice(0, 12);
  const out = path.join(os.tmpdir(), 'stackshot-bench', `threads-${hash}`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    execFileSync('gcc', [...FLAGS, source, '-o', `${out}.tmp`]);
    fs.renameSync(`${out}.tmp`, out);
  }
  return out;
}

/** Starts the fixture with args; resolves { pid, stop() } once it prints `ready`. */
function startTarget(args) {
  const binary = buildFixture();
  const sh = spawn('sh', ['-c', '"$0" "$@" & echo "pid=$!"; wait', binary, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`target did not get ready:\n${out}`)), 10_000);
    sh.stdout.on('data', (chunk) => {
      out += chunk;
      const pid = /pid=(\d+)/.exec(out);
      if (pid && /^ready$/m.test(out)) {
        clearTimeout(timer);
        const target = Number(pid[1]);
        resolve({
          pid: target,
          stop() {
            try { process.kill(target, 'SIGKILL'); } catch { /* already gone */ }
            sh.kill('SIGKILL');
          },
        });
      }
    });
  });
}

module.exports = { startTarget };
