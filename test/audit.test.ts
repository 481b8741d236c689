// audit(): frame-pointer prologue detection on real binaries (fixtures compiled here with and
// without frame pointers, for x86-64 and, when the cross compiler exists, aarch64), on this
// machine's libc, node and libpython, and on live Python / Node processes; the CLI's output.
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { audit, auditFiles } from '../src/audit/audit';
import { readProducer, framePointerFlag, sectionPrefix } from '../src/audit/dwarf-producer';
import { auditCacheStats, auditModuleFile } from '../src/audit/module-audit';
import { classifyAarch64, classifyX86_64 } from '../src/audit/prologue';
import type { AuditReport, ModuleAudit } from '../src/audit/types';
import { ElfFile, FdSource } from '../src/elf/elf-file';
import { findDebugFile } from '../src/elf/build-id';
import { formatAuditText, runAudit } from '../src/cli/audit-command';
import { compileFixture } from './helpers/fixtures';
import { buildNative, hasCompiler } from './helpers/native-build';
import { python3Path, startNode, startPython, startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const FP_FLAGS = ['-fno-omit-frame-pointer', '-mno-omit-leaf-frame-pointer'];
const NOFP_FLAGS = ['-fomit-frame-pointer'];

function buildLib(compiler: string, opt: string, fp: boolean): string {
  const tag = compiler.startsWith('aarch64') ? 'a64' : 'x64';
  return buildNative({
    name: `libaudit_${tag}_${opt.slice(1)}_${fp ? 'fp' : 'nofp'}.so`,
    compiler,
    sources: ['test/fixtures/audit_lib.c'],
    flags: [opt, '-g', '-shared', '-fPIC', ...(fp ? FP_FLAGS : NOFP_FLAGS)],
  });
}

function one(file: string): ModuleAudit {
  const r = auditFiles([file]);
  expect(r.modules).toHaveLength(1);
  return r.modules[0];
}

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

describe('prologue classifiers', () => {
  const x = (hex: string) => classifyX86_64(Buffer.from(hex.replace(/\s/g, ''), 'hex'));
  it('x86-64: push %rbp; mov %rsp,%rbp at entry, after endbr64, with instructions between', () => {
    expect(x('55 4889e5 4883ec10 c3')).toBe('entry');
    expect(x('f30f1efa 55 4889e5 c3')).toBe('entry');
    expect(x('55 488bec c3')).toBe('entry'); // the other encoding of the mov
    expect(x('55 66480f6ec7 4889e5 c3')).toBe('entry'); // gcc scheduled a movq in between
  });
  it('x86-64: shrink-wrapped (early exit first) is "later"; push %r13 and no mov are "none"', () => {
    expect(x('85ff 7824 55 4889e5 4154 53')).toBe('later'); // test; js out; push; mov
    expect(x('4155 4889e5 c3')).toBe('none'); // push %r13 is not push %rbp
    expect(x('55 53 4883ec08 c3')).toBe('none'); // push %rbp as a callee-saved register only
    // libpython without frame pointers: %rbp becomes a pointer to a local buffer, not a frame.
    expect(x('4155 660fefc0 31d2 4154 4989fc 55 53 4889f3 4889df 4883ec58 4889e5 0f290424')).toBe('none');
    expect(x('55 4883ec10 4889e5 c3')).toBe('none'); // sub before the mov: not a frame record
    expect(x('488b0539 2d0000 8b00 01f8 c3')).toBe('none');
    // Beyond the 64-byte window: not counted.
    expect(x('90'.repeat(64) + '55 4889e5')).toBe('none');
  });
  const a = (...insns: number[]) => {
    const b = Buffer.alloc(insns.length * 4);
    insns.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
    return classifyAarch64(b);
  };
  const PACIASP = 0xd503233f;
  const BTI_C = 0xd503245f;
  const STP_PRE = 0xa9bf7bfd; // stp x29, x30, [sp, #-16]!
  const STP_OFF = 0xa9017bfd; // stp x29, x30, [sp, #16]
  const MOV_FP = 0x910003fd; // mov x29, sp
  const ADD_FP16 = 0x910043fd; // add x29, sp, #16
  const SUB_SP = 0xd10083ff; // sub sp, sp, #32
  const ADRP = 0xf00000e1;
  const CBZ = 0xb4000040; // cbz x0, +8
  const RET = 0xd65f03c0;
  it('aarch64: stp x29, x30 then mov/add x29, sp; pac/bti first; large-frame and shrink-wrapped forms', () => {
    expect(a(STP_PRE, MOV_FP, RET)).toBe('entry');
    expect(a(PACIASP, STP_PRE, MOV_FP, RET)).toBe('entry');
    expect(a(BTI_C, ADRP, STP_PRE, ADRP, MOV_FP, RET)).toBe('entry');
    expect(a(SUB_SP, STP_OFF, ADD_FP16, RET)).toBe('entry');
    expect(a(CBZ, RET, STP_PRE, MOV_FP, RET)).toBe('later');
    expect(a(STP_PRE, ADRP, RET)).toBe('none'); // saves x29/x30 but never points x29 at them
    expect(a(ADRP, RET)).toBe('none');
  });
});

describe('fixture libraries built with and without frame pointers', () => {
  const targets: [string, string][] = [['gcc', 'x86-64']];
  if (hasCompiler('aarch64-linux-gnu-gcc')) targets.push(['aarch64-linux-gnu-gcc', 'aarch64']);
  for (const [compiler, arch] of targets) {
    for (const opt of ['-O1', '-O2']) {
      it(`${arch} ${opt}: >= 95 % with -fno-omit-frame-pointer, <= 5 % with -fomit-frame-pointer; verdicts follow`, () => {
        const fp = one(buildLib(compiler, opt, true));
        const nofp = one(buildLib(compiler, opt, false));
        for (const m of [fp, nofp]) {
          expect(m.arch).toBe(arch);
          expect(m.elfType).toBe('shared object');
          expect(m.ehFrame).toBe(true);
          expect(m.ehFrameFdes).toBeGreaterThanOrEqual(25);
          expect(m.framePointers?.symbolSource).toBe('.symtab');
          expect(m.framePointers?.functions).toBeGreaterThanOrEqual(24); // 25 of ours, plus crt bits
          expect(m.buildId).toMatch(/^[0-9a-f]{40}$/);
        }
        expect(fp.framePointers!.shareByCount).toBeGreaterThanOrEqual(0.95);
        expect(fp.framePointers!.shareByBytes).toBeGreaterThanOrEqual(0.95);
        expect(fp.verdict).toBe('frame-pointer walkable');
        expect(nofp.framePointers!.shareByCount).toBeLessThanOrEqual(0.05);
        expect(nofp.verdict).toBe('needs CFI');
        // The flags are recorded in DW_AT_producer (-g), and read back.
        expect(fp.compiler.producer).toContain('-fno-omit-frame-pointer');
        expect(fp.compiler.framePointerFlag).toBe('on');
        expect(nofp.compiler.framePointerFlag).toBe('off');
      });
    }
  }

  it('a stripped library with no .eh_frame is "not unwindable"; with .dynsym only, the exported functions are measured', () => {
    const lib = buildNative({
      name: 'libaudit_x64_noeh_nofp.so',
      compiler: 'gcc',
      sources: ['test/fixtures/audit_lib.c'],
      flags: [
        '-O2',
        '-shared',
        '-fPIC',
        '-fomit-frame-pointer',
        '-fno-asynchronous-unwind-tables',
        '-fno-unwind-tables',
        '-Wl,--no-eh-frame-hdr',
        '-s',
      ],
    });
    const m = one(lib);
    expect(m.symtab).toBeNull();
    expect(m.framePointers?.symbolSource).toBe('.dynsym');
    expect(m.framePointers?.functions).toBeGreaterThanOrEqual(24);
    // The linker keeps a .eh_frame holding only its terminator: no FDE, nothing to unwind with.
    expect(m.ehFrameFdes).toBe(0);
    expect(m.ehFrame).toBe(false);
    expect(m.verdict).toBe('not unwindable');
    expect(m.reason).toMatch(/no \.eh_frame/);
  });

  it('the threads fixture: fp build walkable, nofp build needs CFI', () => {
    const fp = one(compileFixture('threads', 'fp'));
    const nofp = one(compileFixture('threads', 'nofp'));
    expect(fp.elfType).toMatch(/executable|shared object/); // PIE is ET_DYN
    expect(fp.framePointers!.shareByCount).toBeGreaterThanOrEqual(0.9);
    expect(fp.verdict).toBe('frame-pointer walkable');
    expect(nofp.framePointers!.shareByCount).toBeLessThanOrEqual(0.05);
    expect(nofp.verdict).toBe('needs CFI');
  });

  it('files that are not ELF, or missing, give a failed audit, not an exception', () => {
    const r = auditFiles([__filename, '/nonexistent/libnothing.so']);
    expect(r.modules.map((m) => m.verdict)).toEqual(['not unwindable', 'not unwindable']);
    expect(r.modules[0].error).toMatch(/ELF/);
    expect(r.modules[1].error).toBe('no such file');
  });
});

describe("this machine's binaries (compare with docs/DESIGN.md's table)", () => {
  it('Debian libc: about 2.4 % of functions, symbols from its debug file, needs CFI', () => {
    const m = one(LIBC);
    expect(m.framePointers!.shareByCount).toBeGreaterThanOrEqual(0);
    expect(m.framePointers!.shareByCount).toBeLessThanOrEqual(0.06);
    expect(m.verdict).toBe('needs CFI');
    expect(m.ehFrame).toBe(true);
    if (m.debugFile !== null) {
      expect(m.framePointers!.symbolSource).toBe('debug file .symtab');
      // Debian's debug files have SHF_COMPRESSED (zlib) .debug_info / .debug_str.
      expect(m.compiler.producer).toMatch(/^GNU C\d+ /);
      expect(m.compiler.producerFrom).toBe(m.debugFile);
    }
  });

  it('node: about 65 % of functions and 94 % of bytes set up a frame pointer; needs CFI', () => {
    const m = one(fs.realpathSync(process.execPath));
    const fp = m.framePointers!;
    expect(fp.functions).toBeGreaterThan(10_000);
    expect(fp.shareByCount).toBeGreaterThanOrEqual(0.45);
    expect(fp.shareByCount).toBeLessThanOrEqual(0.7);
    expect(fp.shareByBytes).toBeGreaterThanOrEqual(0.75);
    expect(fp.shareByBytes).toBeLessThanOrEqual(0.95);
    expect(m.verdict).toBe('needs CFI');
  });

  it("pyenv's libpython: 0 %, needs CFI", (ctx) => {
    let lib: string;
    try {
      lib = execFileSync(
        python3Path(),
        [
          '-c',
          "import sysconfig,os;print(os.path.join(sysconfig.get_config_var('LIBDIR'),sysconfig.get_config_var('LDLIBRARY')))",
        ],
        { encoding: 'utf8' },
      ).trim();
    } catch {
      return ctx.skip();
    }
    if (!fs.existsSync(lib) || !lib.endsWith('.so')) return ctx.skip();
    const m = one(lib);
    expect(m.framePointers!.shareByCount).toBeLessThanOrEqual(0.02);
    expect(m.verdict).toBe('needs CFI');
  });

  it('reads DW_AT_producer through compressed sections (zlib, inflated only as far as needed)', (ctx) => {
    const fd = fs.openSync(LIBC, 'r');
    try {
      const elf = new ElfFile(new FdSource(fd));
      const dbg = findDebugFile(elf, LIBC, ['']);
      if (dbg === null) return ctx.skip();
      try {
        const info = dbg.elf.section('.debug_info')!;
        expect(info.flags & 0x800).toBe(0x800); // SHF_COMPRESSED
        expect(sectionPrefix(dbg.elf, info, 64).length).toBe(64);
        expect(readProducer(dbg.elf, dbg.path)).toMatch(/^GNU C11 \d+\.\d+\.\d+ .*-O2/);
      } finally {
        fs.closeSync(dbg.fd);
      }
    } finally {
      fs.closeSync(fd);
    }
  });

  it('framePointerFlag: the last flag wins', () => {
    expect(framePointerFlag('-O2 -fomit-frame-pointer -fno-omit-frame-pointer')).toBe('on');
    expect(framePointerFlag('-fno-omit-frame-pointer -O2 -fomit-frame-pointer')).toBe('off');
    expect(framePointerFlag('-O2 -mno-omit-leaf-frame-pointer')).toBeNull();
  });

  it('a second audit of the same file comes from the cache', () => {
    // Counted, not timed: a busy machine makes any timing comparison a coin toss.
    const a = auditModuleFile(LIBC, [LIBC], ['']);
    const hits = auditCacheStats.hits;
    const b = auditModuleFile(LIBC, [LIBC], ['']);
    expect(b).toEqual(a);
    expect(auditCacheStats.hits).toBe(hits + 1);
  });
});

function moduleMatching(r: AuditReport, re: RegExp): ModuleAudit {
  const m = r.modules.find((x) => re.test(x.path));
  if (m === undefined)
    throw new Error(`no module matching ${String(re)} in ${r.modules.map((x) => x.path).join(', ')}`);
  return m;
}

describe('audit of live processes', () => {
  it('a Python process: libpython/python needs CFI; its interpreter was built without frame pointers', async () => {
    const t = await startPython("import time\nprint('ready')\ntime.sleep(60)");
    const r = await audit(t.pid, { runInterpreter: true });
    expect(r.pid).toBe(t.pid);
    expect(moduleMatching(r, /libc\.so/).verdict).toBe('needs CFI');
    const py = r.runtimes.python;
    expect(py).toBeDefined();
    expect(py!.interpreter).not.toBeNull();
    expect(py!.cflags).toMatch(/-O\d/);
    expect(py!.builtWithFramePointers).toBe(/-fno-omit-frame-pointer/.test(py!.cflags!));
    expect(py!.perfTrampolineRequested).toBe(false);
    expect(py!.perfMap).toBeNull();
    const lib = r.modules.find((m) => /libpython/.test(m.path));
    if (lib !== undefined) expect(lib.verdict).toBe('needs CFI');
    expect(r.runtimes.node).toBeUndefined();
  });

  it('audit runs no interpreter unless asked, and as root never one another user owns', async (ctx) => {
    const debianPython = '/usr/bin/python3.11';
    if (process.getuid?.() !== 0) ctx.skip('needs root: the refusal is root-only');
    if (!fs.existsSync(debianPython)) ctx.skip(`no ${debianPython} to copy (a static interpreter)`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-userpy-'));
    try {
      const copy = path.join(dir, 'python3.11');
      fs.copyFileSync(debianPython, copy);
      fs.chmodSync(copy, 0o755);
      fs.chownSync(copy, 65534, 65534); // a user's own copy (nobody's here)
      const t = await startTarget(copy, ['-u', '-c', "import time\nprint('ready')\ntime.sleep(60)"]);
      const byDefault = (await audit(t.pid)).runtimes.python!;
      expect(byDefault.interpreter).toBeNull();
      expect(byDefault.note).toBe('not read: running the interpreter is opt-in (audit --interpreter)');
      const asked = (await audit(t.pid, { runInterpreter: true })).runtimes.python!;
      expect(asked.interpreter).toBeNull();
      expect(asked.cflags).toBeNull();
      expect(asked.note).toMatch(/^not run: .* is owned by uid 65534, and root runs only root-owned interpreters$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a Node process with --perf-basic-prof: the flag and /tmp/perf-<pid>.map are reported', async () => {
    const t = await startNode("setInterval(()=>{},1000); console.log('ready')", [
      '--perf-basic-prof',
      '--interpreted-frames-native-stack',
    ]);
    const r = await audit(String(t.pid));
    const node = r.runtimes.node!;
    expect(node.perfFlags).toEqual(['--perf-basic-prof']);
    expect(node.interpretedFramesNativeStack).toBe(true);
    expect(node.perfMap).toBe(`/tmp/perf-${t.pid}.map`);
    const exe = moduleMatching(r, /\/node$/);
    expect(exe.openedFrom).toMatch(new RegExp(`^/proc/${t.pid}/map_files/`));
    expect(exe.verdict).toBe('needs CFI');
    expect(r.summary['needs CFI']).toBe(r.modules.filter((m) => m.verdict === 'needs CFI').length);
    expect(r.runtimes.python).toBeUndefined();
  });

  it('a Node process without perf flags: its JS frames are read from V8 metadata, and it says so', async () => {
    const t = await startNode("setInterval(()=>{},1000); console.log('ready')");
    const r = await audit(t.pid);
    expect(r.runtimes.node!.perfFlags).toEqual([]);
    expect(r.runtimes.node!.perfMap).toBeNull();
    // This machine's node (v20, no pointer compression) carries readable V8 metadata.
    expect(r.runtimes.node!.v8).toMatchObject({ readable: true, module: fs.realpathSync(process.execPath) });
    expect(r.runtimes.node!.v8.version).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(r.runtimes.node!.note).toMatch(/no flag needed/);
  });

  it('no such process: ESRCH', async () => {
    await expect(audit(4_000_000)).rejects.toMatchObject({ code: 'ESRCH', reason: 'no-such-process' });
  });
});

describe('stackshot audit (CLI function)', () => {
  it('prints a table and details for files, and JSON with --json', async () => {
    const lib = buildLib('gcc', '-O2', true);
    let text = '';
    expect(await runAudit([lib, LIBC], {}, (s) => (text += s))).toBe(0);
    expect(text).toMatch(/^2 files: 1 frame-pointer walkable, 1 need CFI, 0 not unwindable/);
    expect(text).toMatch(
      new RegExp(`${path.basename(lib)}\\s+9\\d %\\s+9\\d %\\s+\\d+\\s+eh_frame\\+hdr.*frame-pointer walkable`),
    );
    expect(text).toMatch(/libc\.so\.6\s+\d(\.\d)? %.*needs CFI/);
    let json = '';
    expect(await runAudit([lib], { json: true }, (s) => (json += s))).toBe(0);
    const parsed = JSON.parse(json) as AuditReport;
    expect(parsed.pid).toBeNull();
    expect(parsed.modules[0].verdict).toBe('frame-pointer walkable');
    expect(formatAuditText(parsed)).toContain('Details:');
  });

  it('usage errors return 2', async () => {
    let err = '';
    expect(
      await runAudit(
        [],
        {},
        () => {},
        (s) => (err += s),
      ),
    ).toBe(2);
    expect(
      await runAudit(
        ['123', LIBC],
        {},
        () => {},
        (s) => (err += s),
      ),
    ).toBe(2);
    expect(err).toMatch(/needs a pid/);
    expect(err).toMatch(/not both/);
  });
});
