// The runtime targets npm run bench (section node) and bench/agreement.js measure: an idle and
// a busy node with JIT names in a perf map, and Debian's python3.11 (no frame pointers in
// libpython) where installed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const { DEMO_NODE_FLAGS: NODE_FLAGS } = require('../dist/demo/run-demo.js'); // JS names, V8's logs aside
const DEBIAN_PYTHON = '/usr/bin/python3.11';
// A thread sleeping, one summing, the main thread asleep (shared with the tests).
const PYTHON_SCRIPT = path.join(__dirname, '..', 'test', 'fixtures', 'py_threads.py');

/** { programs: [{ name, command, args }], missing: why a target is left out, or null }. */
function runtimePrograms() {
  const node = (name, code) => ({ name, command: process.execPath, args: [...NODE_FLAGS, '-e', code] });
  const programs = [
    node('node idle (setInterval)', "console.log('ready'); setInterval(() => {}, 1000);"),
    node('node busy (while(true){})', "console.log('ready'); while (true) {}"),
  ];
  const python = fs.existsSync(DEBIAN_PYTHON);
  if (python) programs.push({ name: 'python3.11 (Debian)', command: DEBIAN_PYTHON, args: [PYTHON_SCRIPT] });
  return { programs, missing: python ? null : `${DEBIAN_PYTHON} not installed: no python target` };
}

module.exports = { NODE_FLAGS, DEBIAN_PYTHON, runtimePrograms };
