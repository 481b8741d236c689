#!/usr/bin/env node
// Regenerates the seed corpus (test/fuzz/corpus/<target>/) from real inputs on this machine:
// the CFI, code and symbol tables of a fixture compiled now, of libgcc_s and (a prefix of) libc,
// mangled names from libstdc++ and from a Rust binary, and .xz streams made by xz(1). Each
// seed is framed in its target's input layout (see the comment at the top of each target).
// The seeds are committed; run this only to refresh them:  node test/fuzz/make-seeds.js
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const CORPUS = path.join(__dirname, 'corpus');
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const LIBGCC = '/lib/x86_64-linux-gnu/libgcc_s.so.1';
const LIBSTDCXX = '/lib/x86_64-linux-gnu/libstdc++.so.6';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-seeds-'));

const run = (cmd, args, env) =>
  execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, env: env ?? process.env });

function write(target, name, bytes) {
  const dir = path.join(CORPUS, target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), bytes);
}

/** Section headers: name -> { index, addr, offset, size, exec }. */
function sections(file) {
  const out = new Map();
  for (const line of run('readelf', ['-SW', file]).split('\n')) {
    const m = /^\s*\[\s*(\d+)\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+\S+\s+(\S*)/.exec(line);
    if (m) {
      const [, index, name, addr, offset, size, flags] = m;
      const hex = (h) => parseInt(h, 16);
      out.set(name, {
        index: +index,
        addr: BigInt('0x' + addr),
        offset: hex(offset),
        size: hex(size),
        exec: flags.includes('X'),
      });
    }
  }
  return out;
}

/** A section's bytes, read at its file offset (objcopy cannot dump .symtab). */
function sectionBytes(file, name) {
  const s = sections(file).get(name);
  if (!s) throw new Error(`${file} has no ${name}`);
  return fs.readFileSync(file).subarray(s.offset, s.offset + s.size);
}

/** The exec map symbol_index takes: one byte per section header, 1 for code. */
function execMap(file) {
  const secs = [...sections(file).values()];
  const map = Buffer.alloc(Math.max(0, ...secs.map((s) => s.index)) + 1);
  for (const s of secs) if (s.exec) map[s.index] = 1;
  return map;
}

const u8 = (v) => Buffer.from([v & 0xff]);
const u16 = (v) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};
const u32 = (v) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const u64 = (v) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};

/** .eh_frame cut after the last whole entry that ends within `limit` bytes. */
function ehPrefix(eh, limit) {
  let off = 0;
  while (off + 4 <= eh.length) {
    const len = eh.readUInt32LE(off);
    if (len === 0 || len === 0xffffffff || off + 4 + len > limit) break;
    off += 4 + len;
  }
  return eh.subarray(0, off);
}

// ---- fixtures compiled now ----
const threads = path.join(tmp, 'threads');
run('gcc', ['-O2', '-pthread', '-o', threads, path.join(ROOT, 'test/fixtures/threads.c')]);
const threadsFp = path.join(tmp, 'threads-fp');
run('gcc', ['-O1', '-fno-omit-frame-pointer', '-pthread', '-o', threadsFp, path.join(ROOT, 'test/fixtures/threads.c')]);
const debugFrame = path.join(tmp, 'debug-frame');
const noUnwindTables = ['-fno-asynchronous-unwind-tables', '-fno-unwind-tables'];
run('gcc', ['-O2', '-g', ...noUnwindTables, '-o', debugFrame, path.join(ROOT, 'test/fixtures/aarch64_cfi.c')]);
let aarch64 = path.join(tmp, 'aarch64');
try {
  run('aarch64-linux-gnu-gcc', [
    '-O2',
    '-mbranch-protection=pac-ret',
    '-o',
    aarch64,
    path.join(ROOT, 'test/fixtures/aarch64_cfi.c'),
  ]);
} catch {
  aarch64 = null; // no cross compiler: no aarch64 seeds
}

// ---- cfi_table: u8 flags, u32 hdr size, u32 debug size, u64 eh vaddr, u64 hdr vaddr, hdr, debug, eh ----
function cfiSeed(file, { flags = 0, hdr = true, ehLimit = Infinity, debug = false } = {}) {
  const s = sections(file);
  const eh = s.has('.eh_frame') ? ehPrefix(sectionBytes(file, '.eh_frame'), ehLimit) : Buffer.alloc(0);
  const hdrBytes = hdr && s.has('.eh_frame_hdr') ? sectionBytes(file, '.eh_frame_hdr') : Buffer.alloc(0);
  const dbg = debug ? sectionBytes(file, '.debug_frame') : Buffer.alloc(0);
  const ehAddr = s.get('.eh_frame')?.addr ?? 0n;
  const hdrAddr = s.get('.eh_frame_hdr')?.addr ?? 0n;
  return Buffer.concat([
    u8(flags),
    u32(hdrBytes.length),
    u32(dbg.length),
    u64(ehAddr),
    u64(hdrAddr),
    hdrBytes,
    dbg,
    eh,
  ]);
}
write('cfi_table', 'threads-eh-hdr', cfiSeed(threads));
write('cfi_table', 'threads-eh-scan', cfiSeed(threads, { hdr: false }));
write('cfi_table', 'libgcc-eh-hdr', cfiSeed(LIBGCC));
write('cfi_table', 'libc-eh-prefix', cfiSeed(LIBC, { hdr: false, ehLimit: 24 << 10 }));
write('cfi_table', 'x86-debug-frame', cfiSeed(debugFrame, { hdr: false, debug: true }));
if (aarch64) write('cfi_table', 'aarch64-pac-eh-hdr', cfiSeed(aarch64, { flags: 1 }));

// ---- cfa_program: real CIE/FDE program pairs out of .eh_frame ----
/** LEB128 at `off`: [value, offset after it]; `signed` extends the last byte's sign bit. */
function leb(buf, off, signed) {
  let v = 0,
    shift = 0,
    b;
  do {
    b = buf[off++];
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  if (signed && b & 0x40) v -= 2 ** shift;
  return [v, off];
}
const uleb = (buf, off) => leb(buf, off, false);
const sleb = (buf, off) => leb(buf, off, true);
/** { cie program, fde program, code/data alignment, ra column, pc_range } of the first FDEs ("zR" CIEs only). */
function programs(eh, max) {
  const cies = new Map();
  const out = [];
  let off = 0;
  while (off + 8 <= eh.length && out.length < max) {
    const len = eh.readUInt32LE(off);
    if (len === 0 || len === 0xffffffff) break;
    const end = off + 4 + len;
    const id = eh.readUInt32LE(off + 4);
    let p = off + 8;
    if (id === 0) {
      const version = eh[p++];
      const augEnd = eh.indexOf(0, p);
      const aug = eh.toString('latin1', p, augEnd);
      p = augEnd + 1;
      let code, data, ra;
      [code, p] = uleb(eh, p);
      [data, p] = sleb(eh, p);
      if (version === 1) ra = eh[p++];
      else [ra, p] = uleb(eh, p);
      if (aug === 'zR' || aug === 'zRS') {
        let augLen;
        [augLen, p] = uleb(eh, p);
        cies.set(off, { code, data, ra, signal: aug.includes('S'), insns: eh.subarray(p + augLen, end) });
      }
    } else {
      const cie = cies.get(off + 4 - id);
      if (cie) {
        const range = eh.readUInt32LE(p + 4);
        let augLen;
        [augLen, p] = uleb(eh, p + 8);
        out.push({ cie, range, insns: eh.subarray(p + augLen, end) });
      }
    }
    off = end;
  }
  return out;
}
// u8 flags, u8 encoding, u8 code align, i8 data align, u8 ra, u16 cie size, u32 pc_begin, u16 pc_range, u16 stop, programs
function cfaSeeds(file, prefix, archFlag, max) {
  programs(sectionBytes(file, '.eh_frame'), max).forEach((f, i) => {
    const flags = archFlag | 4 | (f.cie.signal ? 2 : 0);
    const header = Buffer.concat([
      u8(flags),
      u8(0x1b),
      u8(f.cie.code),
      u8(f.cie.data),
      u8(f.cie.ra),
      u16(f.cie.insns.length),
      u32(0x1000),
      u16(Math.min(f.range, 0xffff)),
      u16(Math.min(f.range, 0xffff) >> 1),
    ]);
    write('cfa_program', `${prefix}-${String(i).padStart(2, '0')}`, Buffer.concat([header, f.cie.insns, f.insns]));
  });
}
cfaSeeds(threads, 'threads', 0, 24);
cfaSeeds(LIBC, 'libc', 0, 24);
if (aarch64) cfaSeeds(aarch64, 'aarch64', 1, 12);

// ---- demangle: real names, one per file ----
function names(file, keep, every) {
  const all = run('nm', ['--defined-only', '-D', file])
    .split('\n')
    .map((l) => l.split(' ')[2])
    .filter(Boolean);
  return all.filter(keep).filter((_, i) => i % every === 0);
}
const writeNames = (prefix, list) =>
  list.forEach((n, i) => write('demangle', `${prefix}-${String(i).padStart(3, '0')}`, n));
writeNames('libstdcxx', names(LIBSTDCXX, (n) => n.startsWith('_Z'), 40).slice(0, 150));
try {
  const rust = path.join(ROOT, 'test/fixtures/rust_names.rs');
  const env = { ...process.env, RUSTC_BOOTSTRAP: '1' };
  const flags = ['--edition', '2021', '-C', 'opt-level=0'];
  run('rustc', [...flags, '-C', 'symbol-mangling-version=v0', '-o', path.join(tmp, 'rust-v0'), rust], env);
  const legacy = ['-Z', 'unstable-options', '-C', 'symbol-mangling-version=legacy'];
  run('rustc', [...flags, ...legacy, '-o', path.join(tmp, 'rust-legacy'), rust], env);
  const local = (file, re) =>
    run('nm', ['--defined-only', file])
      .split('\n')
      .map((l) => l.split(' ')[2])
      .filter((n) => n && re.test(n));
  const spread = (list, max) =>
    list.filter((_, i) => i % Math.max(1, Math.floor(list.length / max)) === 0).slice(0, max);
  writeNames('rust-v0', spread(local(path.join(tmp, 'rust-v0'), /^_R/), 80));
  writeNames('rust-legacy', spread(local(path.join(tmp, 'rust-legacy'), /^_ZN.*17h[0-9a-f]{16}E$/), 80));
} catch (err) {
  console.error(`make-seeds: no Rust names (${err.message.split('\n')[0]})`);
}

// ---- punycode: u8 limit, ascii '_' codes (RFC 3492 samples and Rust v0's own) ----
for (const [name, text] of [
  ['german', 'Bcher_kva'],
  ['munich', 'Mnchen_3ya'],
  ['chinese', '_ihqwcrb4cv8a8dqg056pqjye'],
  ['russian', '_b1abfaaepdrnnbgefbadotcwatmq2g4l'],
  ['mixed', '3B_ww4c5e180e575a65lsy2b'],
  ['rust-v0', 'gdel_5qa'],
]) {
  write('punycode', name, Buffer.concat([u8(64), Buffer.from(text, 'latin1')]));
}

// ---- perf_map: u8 flags (bit 0 skip first line, bits 1-7 max name), then lines as V8 writes them ----
{
  const v8 = [
    '7f3a5c000040 c0 Builtin:ArgumentsAdaptorTrampoline',
    '7f3a5c000100 1e0 JS:~ /app/server.js:10:5',
    '7f3a5c000100 20 JS:*handle /app/server.js:20:3',
    '0x7f3a5c000400 0X40 Function:~<anonymous> node:internal/main:1:1\r',
    'garbage',
    '7f3a5c000500 0 empty',
  ].join('\n');
  write('perf_map', 'v8-lines', Buffer.concat([u8(0xfe), Buffer.from(`${v8}\n`)]));
  write('perf_map', 'skip-first-short-names', Buffer.concat([u8(0x11), Buffer.from(`tail of a long line\n${v8}`)]));
}

// ---- xz: u24 cap (0: default), then streams as xz(1) writes them ----
const symtab = sectionBytes(threads, '.symtab');
const xzOf = (args, input) => execFileSync('xz', ['-c', ...args], { input });
const streams = {
  'symtab-default': xzOf([], symtab),
  'symtab-minidebuginfo': xzOf(['-9e', '--check=crc32'], symtab), // how Fedora builds .gnu_debugdata
  'text-none-check': xzOf(['-0', '--check=none'], Buffer.from('stackshot '.repeat(200))),
  'text-sha256': xzOf(['--check=sha256'], Buffer.from('stackshot')),
  empty: xzOf([], Buffer.alloc(0)),
};
streams['concatenated-padded'] = Buffer.concat([streams['text-sha256'], Buffer.alloc(8), streams.empty]);
for (const [name, s] of Object.entries(streams)) write('xz', name, Buffer.concat([u8(0), u8(0), u8(0), s]));
write('xz', 'symtab-capped', Buffer.concat([u8(0), u8(4), u8(0), streams['symtab-default']])); // 1 KiB cap

// ---- symbol_index: u8 count-1, then per section u32 syms, u32 strs, u16 exec; then the bytes ----
function symSeed(parts) {
  const head = [u8(parts.length - 1)];
  for (const p of parts) head.push(u32(p.syms.length), u32(p.strs.length), u16(p.exec.length));
  return Buffer.concat([...head, ...parts.flatMap((p) => [p.syms, p.strs, p.exec])]);
}
const part = (file, syms, strs) => ({
  syms: sectionBytes(file, syms),
  strs: sectionBytes(file, strs),
  exec: execMap(file),
});
const threadsTables = [part(threads, '.symtab', '.strtab'), part(threads, '.dynsym', '.dynstr')];
write('symbol_index', 'threads-symtab-dynsym', symSeed(threadsTables));
write('symbol_index', 'libgcc-dynsym', symSeed([part(LIBGCC, '.dynsym', '.dynstr')]));

// ---- unwinder: the frame-pointer fixture's code and CFI, a stack of frame records into it ----
const MODULE_BIAS = 0x555555554000n;
const MODULE_BASE = MODULE_BIAS + 0x1000n;
const STACK_BASE = 0x7ffc00000000n;
function unwinderSeed(file, flags) {
  const s = sections(file);
  // The harness maps code bytes from vaddr 0x1000 on: the text segment goes where it is linked.
  const load = run('readelf', ['-lW', file])
    .split('\n')
    .find((l) => /LOAD/.test(l) && /R E/.test(l));
  const fields = /LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(load);
  const [offset, vaddr, filesz] = fields.slice(1).map((h) => parseInt(h, 16));
  if (vaddr < 0x1000 || vaddr - 0x1000 + filesz > 0xffff)
    throw new Error(`text segment out of the harness's range: ${load}`);
  const code = Buffer.alloc(vaddr - 0x1000 + filesz);
  fs.readFileSync(file).copy(code, vaddr - 0x1000, offset, offset + filesz);
  const nm = run('nm', [file])
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length === 3);
  const syms = new Map(nm.map(([a, , n]) => [n, BigInt('0x' + a)]));
  const at = (name, plus) => MODULE_BASE + (syms.get(name) - 0x1000n) + plus;
  // sp: [0] ra into depth_02; fp at +64: a record -> +128: a record -> 0 (end of chain).
  const stack = Buffer.alloc(256);
  stack.writeBigUInt64LE(at('depth_02', 9n), 0);
  stack.writeBigUInt64LE(STACK_BASE + 128n, 64);
  stack.writeBigUInt64LE(at('depth_03', 9n), 72);
  stack.writeBigUInt64LE(0n, 128);
  stack.writeBigUInt64LE(at('spin_thread_main', 9n), 136);
  const eh = sectionBytes(file, '.eh_frame');
  const hdr = sectionBytes(file, '.eh_frame_hdr');
  const pc = syms.get('depth_01') - 0x1000n + 4n;
  return Buffer.concat([
    u8(flags),
    u8(64),
    u8(0),
    u32(Number(pc)),
    u16(64),
    u32(Number(syms.get('main') - 0x1000n)),
    u16(64),
    u32(eh.length),
    u32(hdr.length),
    u64(s.get('.eh_frame').addr),
    u64(s.get('.eh_frame_hdr').addr),
    u16(code.length),
    eh,
    hdr,
    code,
    stack,
  ]);
}
write('unwinder', 'threads-fp-cfi', unwinderSeed(threadsFp, 0));
write('unwinder', 'threads-fp-only', unwinderSeed(threadsFp, 2));
write('unwinder', 'threads-fp-partial-regs', unwinderSeed(threadsFp, 4)); // pc and sp only

fs.rmSync(tmp, { recursive: true, force: true });
let total = 0;
for (const t of fs.readdirSync(CORPUS)) {
  const files = fs.readdirSync(path.join(CORPUS, t));
  const bytes = files.reduce((n, f) => n + fs.statSync(path.join(CORPUS, t, f)).size, 0);
  total += bytes;
  console.log(`${t}: ${files.length} seeds, ${bytes} bytes`);
}
console.log(`total: ${total} bytes`);
