// Where a source build leaves the addon. node-gyp-build (src/addon.ts) looks in build/Release/
// first, unless STACKSHOT_PREBUILD or PREBUILDS_ONLY send it elsewhere; this asks for that file
// directly, which costs a require of a known path where node-gyp-build reads package.json, lists
// directories and matches names (~0.5 ms of a cold CLI). bin.ts asks for it too, for the code
// cache's CRC-32, and require loads the file once for both.
import * as path from 'node:path';

/** build/Release/stackshot.node of the package (from dist/, and from dist/cli-bundle.js). */
const BUILT = path.join(__dirname, '..', 'build', 'Release', 'stackshot.node');

/**
 * The source-built addon's exports, where node-gyp-build would load that file; undefined where
 * it would look elsewhere (or there is none). A file there that fails to load throws, as it
 * would through node-gyp-build.
 */
export function builtAddon(): unknown {
  if (process.env.STACKSHOT_PREBUILD !== undefined || process.env.PREBUILDS_ONLY !== undefined) return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(BUILT) as unknown;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}
