// Security: stackshot only reads. The native code may make exactly these ptrace
// requests: SEIZE, INTERRUPT, GETREGSET, DETACH; it may read memory with process_vm_readv or
// a /proc/<pid>/mem opened read-only, and must never write the target's memory or registers.
// A source scan keeps that true as the code changes (a new request must be added here on
// purpose, with a reason).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const NATIVE = path.resolve(__dirname, '..', 'native');
const ALLOWED_REQUESTS = new Set(['PTRACE_SEIZE', 'PTRACE_INTERRUPT', 'PTRACE_GETREGSET', 'PTRACE_DETACH']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (/\.(c|cc|cpp|h|hpp)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Source text without comments and string literals (so prose may name forbidden calls). */
function code(file: string): string {
  return fs
    .readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ')
    .replace(/"(?:[^"\\\n]|\\.)*"/g, (s) => (/\/mem/.test(s) ? '"/mem"' : '""'));
}

const files = sources(NATIVE);
const texts = new Map(files.map((f) => [path.relative(NATIVE, f), code(f)]));

describe('native code never writes the target', () => {
  it('finds the native sources', () => {
    expect(files.length).toBeGreaterThan(10);
    expect([...texts.values()].some((t) => t.includes('PTRACE_SEIZE'))).toBe(true);
  });

  it('makes only SEIZE, INTERRUPT, GETREGSET and DETACH ptrace requests', () => {
    const used = new Map<string, string[]>();
    for (const [file, t] of texts) {
      for (const m of t.matchAll(/\bPTRACE_[A-Z_]+\b/g)) {
        used.set(m[0], [...(used.get(m[0]) ?? []), file]);
      }
      // A ptrace call whose request is not a named constant (a number, a variable) is refused
      // too: the scan could not vouch for it.
      for (const m of t.matchAll(/\bptrace\s*\(\s*([^,)]*)/g)) {
        expect(ALLOWED_REQUESTS.has(m[1].trim()) || m[1].trim() === '', `${file}: ptrace(${m[1]}, ...)`).toBe(true);
      }
    }
    const forbidden = [...used.keys()].filter(
      (r) => !ALLOWED_REQUESTS.has(r) && !/^PTRACE_(EVENT_|O_)/.test(r), // event numbers and options are not requests
    );
    expect(forbidden.map((r) => `${r} in ${used.get(r)?.join(', ')}`)).toEqual([]);
    // Options that would change what the tracee does are not set either.
    expect([...used.keys()].filter((r) => /^PTRACE_(SETOPTIONS|O_)/.test(r))).toEqual([]);
  });

  it('never pokes, sets registers, or writes memory', () => {
    const bad =
      /\b(PTRACE_POKE\w*|PTRACE_SETREGS\w*|PTRACE_SETREGSET|PTRACE_SETFPREGS|PTRACE_SETSIGINFO|PTRACE_SETSIGMASK|PTRACE_ARCH_PRCTL|PTRACE_SYSCALL|PTRACE_SINGLESTEP|PTRACE_CONT|PTRACE_KILL|process_vm_writev|pwrite\w*|ptrace_write|vmsplice)\b/g;
    const hits: string[] = [];
    for (const [file, t] of texts) for (const m of t.matchAll(bad)) hits.push(`${file}: ${m[0]}`);
    expect(hits).toEqual([]);
  });

  it('opens /proc/<pid>/mem read-only, and no file for writing at all', () => {
    const hits: string[] = [];
    let memOpens = 0;
    for (const [file, t] of texts) {
      for (const m of t.matchAll(/\b(O_RDWR|O_WRONLY|O_CREAT|O_TRUNC|O_APPEND)\b/g)) hits.push(`${file}: ${m[0]}`);
      for (const m of t.matchAll(/\bf?open(at)?\s*\(([^;]*)/g)) {
        if (/"[rwa]\+?"/.test(m[2]) && !/"r"/.test(m[2])) hits.push(`${file}: fopen for writing`);
        if (/\bopen\s*\(/.test(m[0]) && !/O_RDONLY/.test(m[2]))
          hits.push(`${file}: open without O_RDONLY: ${m[0].slice(0, 80)}`);
      }
      if (t.includes('"/mem"')) memOpens++;
    }
    expect(hits).toEqual([]);
    expect(memOpens).toBeGreaterThan(0); // the /proc/<pid>/mem fallback exists and was checked
  });
});
