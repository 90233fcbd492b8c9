import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The page's files, served as they are (no build step, no CDN): name → content type. */
export const INSPECTOR_ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'inspector.js': 'text/javascript; charset=utf-8',
  'actions.js': 'text/javascript; charset=utf-8',
  'fleet.js': 'text/javascript; charset=utf-8',
  'inspector.css': 'text/css; charset=utf-8',
};

/**
 * Folder of the inspector page's files: `assets/inspector` at the package root, found from
 * this module whether it runs from `src/` (tests) or `dist/src/` (the package).
 * @throws Error when the folder is missing (a broken install: `assets/` must be in the package).
 */
export function inspectorAssetsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = path.join(dir, 'assets', 'inspector');
    if (fs.existsSync(path.join(candidate, 'index.html'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`statecrew: the inspector page (assets/inspector/index.html) is missing above ${fileURLToPath(import.meta.url)}`);
}

/** Reads every asset once; the page is small (tens of KiB). */
export function loadInspectorAssets(): Map<string, { body: Buffer; type: string }> {
  const dir = inspectorAssetsDir();
  return new Map(Object.entries(INSPECTOR_ASSETS).map(([name, type]) => [name, { body: fs.readFileSync(path.join(dir, name)), type }]));
}
