// Options the API does not know are refused like bad values, not ignored.
import { describe, expect, it } from 'vitest';
import { record, type RecordOptions } from '../src/record';
import { snapshot, snapshotSync } from '../src/snapshot';
import type { SnapshotOptions } from '../src/types';

describe('options the API does not know', () => {
  it('a misspelt option is refused like a bad value, naming the option it resembles', async () => {
    const bad = { maxframes: 5 } as unknown as SnapshotOptions;
    expect(() => snapshotSync(process.ppid, bad)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARG_VALUE',
        message: 'options.maxframes is not an option (did you mean maxFrames?)',
      }),
    );
    await expect(snapshot(process.ppid, { frobnicate: true } as unknown as SnapshotOptions)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: 'options.frobnicate is not an option',
    });
    expect(() => record(process.ppid, { hz: 10, durationms: 5 } as unknown as RecordOptions)).toThrow(
      'options.durationms is not an option (did you mean durationMs?)',
    );
  });
});
