// Unit `build-report` (milestone `report`): joins the outputs of the `inventory` and
// `docs` milestones into one self-contained HTML page (inline CSS, no scripts, no
// external assets): totals, lines per folder, the largest files, a table of every source
// file with its size, sha256 and exports, the dependencies and their licenses, and the
// exports that lack a TSDoc summary. The page title comes from $REPORT_TITLE.
//
//   REPORT_TITLE="..." node quickstart/build-report.mjs --inventory out/inventory.json \
//     --dependencies out/dependencies.json --api out/api-index.json --out out/report.html
import { formatBytes, parseArgs, readJsonOrFail, say, writeOutput } from './lib.mjs';

const args = parseArgs(['inventory', 'dependencies', 'api', 'out']);
const inventory = readJsonOrFail(args.inventory, 'unit scan-sources (milestone inventory)');
const deps = readJsonOrFail(args.dependencies, 'unit list-dependencies (milestone inventory)');
const api = readJsonOrFail(args.api, 'unit extract-api (milestone docs)');
const title = process.env.REPORT_TITLE || 'Source report';

const esc = (value) =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const num = (n) => n.toLocaleString('en-US');

const exportsByFile = new Map();
for (const s of api.symbols) exportsByFile.set(s.file, [...(exportsByFile.get(s.file) ?? []), s]);
const unknown = [...exportsByFile.keys()].filter((f) => !inventory.files.some((i) => i.path === f));
const documented = api.symbols.filter((s) => s.summary !== '').length;
const undocumented = api.symbols.filter((s) => s.summary === '');
const maxDirLines = Math.max(...Object.values(inventory.byDir).map((d) => d.lines));

const cards = [
  ['source files', num(inventory.totals.files)],
  ['lines', num(inventory.totals.lines)],
  ['bytes', formatBytes(inventory.totals.bytes)],
  ['exported symbols', num(api.symbols.length)],
  ['with TSDoc', `${Math.round((100 * documented) / Math.max(1, api.symbols.length))}%`],
  ['packages locked', num(deps.tree.packages)],
];

const fileRows = inventory.files.map((f) => {
  const own = exportsByFile.get(f.path) ?? [];
  const names = own.map((s) => `<code title="${esc(`${s.kind} · line ${s.line}${s.summary ? ` · ${s.summary}` : ''}`)}">${esc(s.name)}</code>`).join(' ');
  return `<tr data-file="${esc(f.path)}"><td class="path">${esc(f.path)}</td><td class="n">${num(f.lines)}</td><td class="n">${esc(formatBytes(f.bytes))}</td><td class="hash" title="${f.sha256}">${f.sha256.slice(0, 12)}</td><td class="n">${own.length}</td><td>${names}</td></tr>`;
});

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1f2328; }
  h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
  .meta { color: #656d76; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .8rem; margin: 1.5rem 0; }
  .card { border: 1px solid #d0d7de; border-radius: 8px; padding: .7rem 1rem; }
  .card b { display: block; font-size: 1.6rem; }
  .card span { color: #656d76; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #eaeef2; vertical-align: top; }
  th { background: #f6f8fa; position: sticky; top: 0; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  td.path, td.hash { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; white-space: nowrap; }
  td.hash { color: #656d76; }
  code { background: #f6f8fa; border-radius: 4px; padding: 0 .25rem; font-size: 12px; display: inline-block; margin: 1px 0; }
  .bar { background: #54aeff; height: .8rem; border-radius: 3px; }
  tr:hover td { background: #f6f8fa; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p class="meta">Generated ${esc(new Date().toISOString())} by <code>examples/quickstart/build-report.mjs</code> from
<code>inventory.json</code> (${esc(inventory.generatedAt)}), <code>dependencies.json</code> and <code>api-index.json</code>.
Folders scanned: ${inventory.dirs.map((d) => `<code>${esc(d)}/</code>`).join(' ')}.</p>

<div class="cards">
${cards.map(([label, value]) => `  <div class="card"><b>${esc(value)}</b><span>${esc(label)}</span></div>`).join('\n')}
</div>

<h2>Lines per folder</h2>
<table>
<tr><th>Folder</th><th class="n">Files</th><th class="n">Lines</th><th class="n">Size</th><th style="width:50%"></th></tr>
${Object.entries(inventory.byDir)
  .map(([dir, t]) => `<tr data-dir="${esc(dir)}"><td class="path">${esc(dir)}/</td><td class="n">${t.files}</td><td class="n">${num(t.lines)}</td><td class="n">${esc(formatBytes(t.bytes))}</td><td><div class="bar" style="width:${((100 * t.lines) / maxDirLines).toFixed(1)}%"></div></td></tr>`)
  .join('\n')}
</table>

<h2>Largest files</h2>
<ol>
${inventory.largest.map((f) => `  <li><code>${esc(f.path)}</code> — ${num(f.lines)} lines, ${esc(formatBytes(f.bytes))}</li>`).join('\n')}
</ol>

<h2>Source files (${inventory.files.length})</h2>
<table>
<tr><th>File</th><th class="n">Lines</th><th class="n">Size</th><th>sha256</th><th class="n">Exports</th><th>Exported symbols (hover for kind, line and summary)</th></tr>
${fileRows.join('\n')}
</table>

<h2>Dependencies (${deps.direct.length} direct, ${deps.tree.packages} in the locked tree)</h2>
<table>
<tr><th>Package</th><th>Group</th><th>Range</th><th>Locked</th><th>License</th></tr>
${deps.direct
  .map((d) => `<tr data-dep="${esc(d.name)}"><td class="path">${esc(d.name)}</td><td>${esc(d.group)}</td><td>${esc(d.range)}</td><td>${esc(d.locked)}</td><td>${esc(d.license)}</td></tr>`)
  .join('\n')}
</table>
<p>Licenses across the locked tree: ${Object.entries(deps.tree.licenses).map(([l, n]) => `<code>${esc(l)}</code> ×${n}`).join(', ')}.
${deps.mismatches.length === 0 ? 'Every direct dependency installed in <code>node_modules</code> matches the lock.' : `<b>Installed versions differing from the lock:</b> ${esc(deps.mismatches.join('; '))}.`}</p>

<h2>Exports without a TSDoc summary (${undocumented.length})</h2>
<ul>
${undocumented.map((s) => `  <li><code>${esc(s.name)}</code> (${esc(s.kind)}) — <code>${esc(s.file)}:${s.line}</code></li>`).join('\n')}
</ul>
</body>
</html>
`;

const written = writeOutput(args.out, html);
say(`joined ${inventory.files.length} files, ${api.symbols.length} exports and ${deps.direct.length} dependencies`);
if (unknown.length > 0) say(`WARNING: ${unknown.length} files in the API index are not in the inventory (sources changed between the scans?): ${unknown.join(', ')}`);
say(`wrote ${args.out} (${formatBytes(written)}): ${fileRows.length} file rows, ${deps.direct.length} dependency rows, ${undocumented.length} undocumented exports listed`);
