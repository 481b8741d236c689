// The viewers, for real: the SVG flame graph and a speedscope file opened in headless Chromium
// (Debian's `chromium`, driven by playwright-core). speedscope is its own npm package's build,
// served from localhost. Saves a screenshot of the flame graph (docs/flamegraph.png with
// `npm run docs:screenshot`).
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record, toFlameGraph, toSpeedscope, type Snapshot } from '../src/index';
import { startFixture, stopAllTargets } from './helpers/target';

const ROOT = path.join(__dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
const SPEEDSCOPE_DIR = path.join(ROOT, 'node_modules', 'speedscope', 'dist', 'release');
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
const SKIP = HAVE_CHROMIUM ? '' : ' (skipped: no /usr/bin/chromium; apt-get install -y chromium)';
const HIGHLIGHT = 'rgb(230,0,230)';

let tmp: string;
let browser: Browser | undefined;
let shots: Snapshot[] = [];

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-viewer-'));
  // Record first, then start the browser: Chromium starting up would starve the sampler.
  // Every thread, each snapshot by ptrace: every thread has one sample per snapshot, so each of
  // the 8 towers is 1/8 of the graph by construction, however little CPU a loaded machine gives
  // the spinner (perf events sample it per CPU time: its tower would shrink and cut its labels).
  const t = await startFixture('threads', 'fp');
  for await (const s of record(t.pid, { hz: 99, durationMs: 1500, state: 'all', capture: 'ptrace' })) shots.push(s);
  await stopAllTargets();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopAllTargets();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  shots = [];
});

async function newPage(width: number, height: number): Promise<{ page: Page; errors: string[]; console: string[] }> {
  const page = await browser!.newPage({ viewport: { width, height } });
  const errors: string[] = [];
  const messages: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => messages.push(m.text()));
  return { page, errors, console: messages };
}

/** The page's visible text (a string expression: the tests compile without the DOM types). */
async function bodyText(page: Page): Promise<string> {
  return String(await page.evaluate('document.body.innerText'));
}

describe('SVG flame graph in Chromium', () => {
  it(`shows frame names, zooms on click, highlights search matches, shows details on hover${SKIP}`, async (ctx) => {
    if (!HAVE_CHROMIUM) return ctx.skip();
    const svg = toFlameGraph(shots, { title: 'stackshot — threads fixture' });
    const file = path.join(tmp, 'flame.svg');
    fs.writeFileSync(file, svg);
    const height = Number(/<svg[^>]* height="(\d+)"/.exec(svg)![1]);
    const { page, errors } = await newPage(1200, height);
    await page.goto(pathToFileURL(file).href);

    const frame = (name: string) => page.locator(`g.f[data-n="${name}"]`).first();
    const width = async (name: string) => Number(await frame(name).locator('rect').getAttribute('width'));

    // Frame names are drawn (and fit: wide frames show their full name), the full name in the
    // tooltip too. The spin tower is 1/8 of 1180 px by construction (see beforeAll).
    for (const name of ['spin_leaf', 'spin_thread_main', 'sleeper_thread_main', 'epoll_wait', 'main', 'all']) {
      expect(await frame(name).isVisible(), name).toBe(true);
      expect(await frame(name).locator('text').textContent(), name).toBe(name);
      expect(await frame(name).locator('title').textContent(), name).toMatch(new RegExp(`^${name} \\(`));
    }

    // Hover: the details line names the frame with its samples and share; save the screenshot so.
    await frame('spin_leaf').locator('rect').hover();
    expect(await page.locator('#details').textContent()).toMatch(
      /^spin_leaf \(\d+ samples, (\d+ ms|\d+\.\d\d s), \d+\.\d\d%\)$/,
    );
    // The screenshot is checked into docs/ by `npm run docs:screenshot`; a test run leaves the
    // tree alone and writes it to a temporary directory.
    const shotDir = process.env.STACKSHOT_SCREENSHOT_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-shot-'));
    fs.mkdirSync(shotDir, { recursive: true });
    await page.screenshot({ path: path.join(shotDir, 'flamegraph.png') });

    // Click: spin_thread_main fills the width; other threads' frames go; ancestors stay, faded.
    const full = 1200 - 2 * 10;
    const before = await width('spin_thread_main');
    expect(before).toBeLessThan(full / 2);
    expect(await page.locator('#unzoom').isVisible()).toBe(false);
    await frame('spin_thread_main').locator('rect').click();
    expect(await width('spin_thread_main')).toBeCloseTo(full, 0);
    expect(await width('spin_leaf')).toBeCloseTo(full, 0);
    expect(await frame('sleeper_thread_main').isVisible()).toBe(false);
    expect(await frame('all').getAttribute('class')).toContain('anc');
    expect(await page.locator('#unzoom').isVisible()).toBe(true);
    await page.locator('#unzoom').click();
    expect(await width('spin_thread_main')).toBeCloseTo(before, 1);
    expect(await frame('sleeper_thread_main').isVisible()).toBe(true);

    // Search (Ctrl-F opens a prompt): matching frames turn magenta; the matched share is shown.
    page.once('dialog', (d) => void d.accept('^depth_1'));
    await page.keyboard.press('Control+f');
    await page.waitForFunction("document.getElementById('matched').textContent !== ''");
    expect(await frame('depth_12').locator('rect').getAttribute('fill')).toBe(HIGHLIGHT);
    expect(await frame('depth_19').locator('rect').getAttribute('fill')).toBe(HIGHLIGHT);
    expect(await frame('depth_09').locator('rect').getAttribute('fill')).not.toBe(HIGHLIGHT);
    expect(await frame('spin_leaf').locator('rect').getAttribute('fill')).not.toBe(HIGHLIGHT);
    const matched = (await page.locator('#matched').textContent())!;
    const pct = Number(/^Matched: ([\d.]+)% \(\^depth_1\)$/.exec(matched)![1]);
    expect(pct).toBeGreaterThan(100 / 8 - 4); // the spin thread: one of 8 threads
    expect(pct).toBeLessThan(100 / 8 + 4);
    await page.locator('#search').click(); // now "Reset Search"
    expect(await frame('depth_12').locator('rect').getAttribute('fill')).not.toBe(HIGHLIGHT);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});

describe('speedscope viewer in Chromium', () => {
  it(`opens the speedscope file in speedscope's own viewer, showing spin_leaf as the hot function${SKIP}`, async (ctx) => {
    if (!HAVE_CHROMIUM) return ctx.skip();
    const file = path.join(tmp, 'profile.speedscope.json');
    fs.writeFileSync(file, JSON.stringify(toSpeedscope(shots, { intervalMs: 1000 / 99 })));
    const TYPES: Record<string, string> = {
      '.html': 'text/html',
      '.js': 'text/javascript',
      '.css': 'text/css',
      '.json': 'application/json',
      '.wasm': 'application/wasm',
    };
    const server = http.createServer((req, res) => {
      const url = decodeURIComponent((req.url ?? '/').split(/[?#]/)[0]!);
      const f =
        url === '/profile.speedscope.json'
          ? file
          : path.join(SPEEDSCOPE_DIR, path.normalize(url === '/' ? '/index.html' : url));
      if (!f.startsWith(SPEEDSCOPE_DIR) && f !== file) {
        res.writeHead(403).end();
        return;
      }
      fs.readFile(f, (err, data) => {
        if (err) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': TYPES[path.extname(f)] ?? 'application/octet-stream' }).end(data);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const { page, errors, console: messages } = await newPage(1200, 700);
      await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(`${base}/profile.speedscope.json`)}`);
      // The toolbar names the active profile: the thread most often on-CPU, spin.
      await page.waitForFunction('/\\(\\d+\\/\\d+\\)/.test(document.body.innerText)', undefined, { timeout: 20_000 });
      expect(
        messages.some((m) => /Importing as speedscope json file/.test(m)),
        messages.join('\n'),
      ).toBe(true);
      expect(await bodyText(page)).toMatch(/spin \(\d+\) \(\d+\/8\)/);
      // Sandwich view: a table of functions by self time; spin_leaf is first.
      await page.getByText('Sandwich').click();
      await page.waitForFunction("document.body.innerText.includes('Symbol Name')");
      const text = await bodyText(page);
      const rows = text
        .slice(text.indexOf('Symbol Name') + 'Symbol Name'.length)
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '');
      // Each row: total, self, name.
      expect(rows[2], rows.slice(0, 9).join(' | ')).toBe('spin_leaf');
      // Its self share: speedscope prints 100%, >99% or a percentage in the nineties.
      expect(rows[1]).toMatch(/\(100%\)|\(>99%\)|\(9\d(\.\d+)?%\)/);
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 60_000);
});
