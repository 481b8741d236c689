#!/usr/bin/env node
// Lists every function in src/ longer than the limit (80 lines, the project's rule), found with
// TypeScript's own parser. A flat dispatch table may be longer: mark it with a comment
// `long-function: <why>` on the line before the function (or its statement), which this honours.
// Usage: node scripts/long-functions.js [--max N] [dir ...]; exits 1 when it finds any.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const args = process.argv.slice(2);
const at = args.indexOf('--max');
const max = at === -1 ? 80 : Number(args.splice(at, 2)[1]);
const roots = args.length > 0 ? args : [path.join(__dirname, '..', 'src')];
const ALLOWED = /long-function:\s*\S/;

function* sourceFiles(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sourceFiles(p);
    else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) yield p;
  }
}

function nameOf(node) {
  if (node.name !== undefined) return node.name.getText();
  const p = node.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText();
  return '(anonymous)';
}

/** The comments just before the function, or before the statement that holds it. */
function leadingComments(node, text) {
  let n = node;
  const out = [];
  for (let i = 0; i < 4 && n !== undefined && !ts.isSourceFile(n); i++, n = n.parent) {
    for (const r of ts.getLeadingCommentRanges(text, n.getFullStart()) ?? []) out.push(text.slice(r.pos, r.end));
  }
  return out.join('\n');
}

const found = [];
for (const root of roots) {
  for (const file of sourceFiles(root)) {
    const text = fs.readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      if (ts.isFunctionLike(node) && node.body !== undefined) {
        const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
        const lines = last - first + 1;
        if (lines > max && !ALLOWED.test(leadingComments(node, text))) {
          found.push(`${path.relative(process.cwd(), file)}:${first + 1}: ${nameOf(node)} is ${lines} lines`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
}
for (const f of found) console.log(f);
if (found.length > 0) {
  console.error(
    `${found.length} function(s) over ${max} lines (split them, or mark a flat dispatch table "long-function: <why>")`,
  );
  process.exit(1);
}
