// The reasons a frame can give for having no name are one closed list (src/symbolize/reasons.ts);
// the README's table is that list, word for word, so that the two cannot drift apart.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SYMBOL_REASONS } from '../src/symbolize/reasons';

/** The rows of the README table under "Why a frame has no name": reason → meaning. */
function readmeReasons(): [string, string][] {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const section = readme.split('#### Why a frame has no name')[1]?.split('\n#')[0] ?? '';
  return [...section.matchAll(/^\| `([a-z0-9-]+)` \| (.*) \|$/gm)].map((m) => [m[1], m[2]]);
}

describe('symbol reasons', () => {
  it("are the README's table, in its order and words", () => {
    expect(readmeReasons()).toEqual(Object.entries(SYMBOL_REASONS));
  });
});
