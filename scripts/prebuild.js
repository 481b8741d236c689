#!/usr/bin/env node
// Prebuilt addons for the npm package: prebuilds/linux-x64/ and prebuilds/linux-arm64/ (cross-
// compiled with Debian's aarch64-linux-gnu toolchain), through prebuildify. Each architecture
// builds in a staged copy of the native sources, so the developer's build/ (which the tests and
// the CLI load) is never touched: `npm pack` used to wipe it.
//
//   node scripts/prebuild.js            every architecture whose compiler is installed
//   node scripts/prebuild.js --all      fail unless every architecture was built
'use strict';
const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const TARGETS = [
  { arch: 'x64', cc: 'gcc', cxx: 'g++', strip: 'strip' },
  {
    arch: 'arm64',
    cc: 'aarch64-linux-gnu-gcc',
    cxx: 'aarch64-linux-gnu-g++',
    strip: 'aarch64-linux-gnu-strip',
  },
];
// Compilers named by host: on an arm64 host the native compiler builds arm64 and x64 needs a
// cross toolchain (x86_64-linux-gnu-*).
if (os.arch() === 'arm64') {
  Object.assign(TARGETS[0], {
    cc: 'x86_64-linux-gnu-gcc',
    cxx: 'x86_64-linux-gnu-g++',
    strip: 'x86_64-linux-gnu-strip',
  });
  Object.assign(TARGETS[1], { cc: 'gcc', cxx: 'g++', strip: 'strip' });
}

// What a prebuild is made from: when it has not changed since the last build (the stamp beside
// the prebuilds says), the existing prebuild is kept and `npm pack` compiles nothing.
const STAMP = path.join(ROOT, 'prebuilds', 'SOURCES.sha256');

function hashTree(h, p) {
  if (fs.statSync(p).isDirectory()) {
    for (const e of fs.readdirSync(p).sort()) hashTree(h, path.join(p, e));
  } else {
    h.update(path.relative(ROOT, p)).update('\0').update(fs.readFileSync(p)).update('\0');
  }
}

function sourcesHash() {
  const h = createHash('sha256');
  for (const f of ['native', 'binding.gyp']) hashTree(h, path.join(ROOT, f));
  return h.digest('hex');
}

function upToDate(t, hash) {
  const built = path.join(ROOT, 'prebuilds', `linux-${t.arch}`, 'stackshot.node');
  return fs.existsSync(built) && fs.existsSync(STAMP) && fs.readFileSync(STAMP, 'utf8').trim() === hash;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function stage(arch) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `stackshot-prebuild-${arch}-`));
  for (const f of ['package.json', 'binding.gyp', 'native']) {
    fs.cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function build(t) {
  const dir = stage(t.arch);
  try {
    const bin = path.join(ROOT, 'node_modules', '.bin', 'prebuildify');
    // N-API: one build serves every Node version; the running one's headers are at hand (no download).
    const args = [
      '--napi',
      '--strip',
      '--arch',
      t.arch,
      '--target',
      process.versions.node,
      '--cwd',
      dir,
      '--out',
      ROOT,
    ];
    const env = {
      ...process.env,
      CC: t.cc,
      CXX: t.cxx,
      LINK: t.cxx,
      PREBUILD_STRIP_BIN: t.strip,
      JOBS: process.env.JOBS || String(os.availableParallelism()),
    };
    // The running Node's own headers, where its installation has them (no download needed).
    const prefix = path.dirname(path.dirname(process.execPath));
    if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
      env.npm_config_nodedir = prefix;
    }
    const r = spawnSync(bin, args, { cwd: dir, env, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`prebuildify for ${t.arch} failed (${r.status ?? r.signal})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const all = process.argv.includes('--all');
const hash = sourcesHash();
let missing = 0;
for (const t of TARGETS) {
  if (upToDate(t, hash)) {
    console.error(`prebuild: prebuilds/linux-${t.arch}/ is up to date`);
    continue;
  }
  if (!have(t.cxx) || !have(t.strip)) {
    console.error(`prebuild: ${t.arch} skipped: ${t.cxx} or ${t.strip} not installed`);
    missing++;
    continue;
  }
  build(t);
  console.error(`prebuild: prebuilds/linux-${t.arch}/ written`);
}
if (missing === 0) fs.writeFileSync(STAMP, `${hash}\n`);
if (all && missing > 0) process.exit(1);
