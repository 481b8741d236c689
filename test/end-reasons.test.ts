// The end reasons are one closed list: the unwinder's enum (native/unwind/walk_result.h), spelled
// by the addon, must be exactly src/types.ts WALK_END_REASONS, in order, or the union lies.
import { describe, expect, it } from 'vitest';

import { binding } from '../src/addon';
import { WALK_END_REASONS } from '../src/types';

describe('end reasons', () => {
  it('the addon reports exactly the reasons src/types.ts lists', () => {
    expect(binding.endReasons).toEqual(WALK_END_REASONS);
  });
});
