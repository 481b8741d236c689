// StackshotError's shape and toStackshotError, which turns a native error into one with a reason
// and a hint.
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { toStackshotError } from '../src/capture/capture-error';
import { StackshotError, errnoName, errnoOf } from '../src/errors';

describe('StackshotError', () => {
  it('has the Node SystemError shape with a negative errno', () => {
    const e = new StackshotError({ code: 'EPERM', syscall: 'ptrace', reason: 'yama', message: 'm', hint: 'h', pid: 7 });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('StackshotError');
    expect(e.errno).toBe(-os.constants.errno.EPERM);
    expect(e).toMatchObject({ code: 'EPERM', syscall: 'ptrace', reason: 'yama', message: 'm', hint: 'h', pid: 7 });
    expect(e.stack).toBeTypeOf('string');
  });

  it('errnoOf / errnoName convert both ways', () => {
    expect(errnoOf('ESRCH')).toBe(-3);
    expect(errnoOf('NOPE')).toBe(-4094);
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(-16)).toBe('EBUSY');
    expect(errnoName(0)).toBeUndefined();
  });
});

describe('toStackshotError', () => {
  it('keeps code and syscall of a native error and adds reason and hint', () => {
    const raw = Object.assign(new Error('ptrace: No such process'), { errno: 3, code: 'ESRCH', syscall: 'ptrace' });
    const e = toStackshotError(4242, raw);
    expect(e).toMatchObject({ code: 'ESRCH', errno: -3, syscall: 'ptrace', reason: 'no-such-process', pid: 4242 });
    expect(e.message).toMatch(/^cannot attach to pid 4242: /);
    expect(e.hint.length).toBeGreaterThan(10);
    expect(e.cause).toBe(raw);
  });

  it('derives the code from a bare errno', () => {
    const e = toStackshotError(1, Object.assign(new Error('x'), { errno: 16, syscall: 'ptrace' }));
    expect(e.code).toBe('EBUSY');
    expect(e.errno).toBe(-16);
  });

  it('wraps non-system errors as UNKNOWN and passes StackshotErrors through', () => {
    const bug = new TypeError('boom');
    const e = toStackshotError(5, bug);
    expect(e).toMatchObject({ code: 'UNKNOWN', reason: 'unknown', pid: 5 });
    expect(e.message).toContain('boom');
    expect(e.cause).toBe(bug);
    expect(toStackshotError(5, e)).toBe(e);
    expect(toStackshotError(5, 'a string').code).toBe('UNKNOWN');
  });
});
