// Small numeric helpers shared by the benchmarks: medians, rates and aligned tables.

/** Median of a non-empty list of numbers. */
export function median(values) {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Milliseconds elapsed since `start` (a `performance.now()` reading). */
export function since(start) {
  return performance.now() - start;
}

/** Formats a number with thousands separators and `digits` decimals. */
export function num(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Formats a ratio as `0.42×`. */
export function ratio(value) {
  return value === null || value === undefined || Number.isNaN(value) ? "—" : `${value.toFixed(value >= 10 ? 1 : value < 0.1 ? 3 : 2)}×`;
}

/** Formats ms as `812 ms` or `12.3 s`. */
export function duration(ms) {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${num(ms, ms < 10 ? 2 : 0)} ms`;
}

/** Formats bytes as KiB. */
export function kib(bytes) {
  return `${(bytes / 1024).toFixed(2)} KiB`;
}

/**
 * Renders a table as aligned plain text (for the terminal).
 * @param {{ columns: string[], rows: (string|number)[][] }} table
 */
export function textTable(table) {
  const cells = [table.columns, ...table.rows].map((row) => row.map((cell) => String(cell)));
  const widths = table.columns.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Renders a table as GitHub markdown; `table.align` ('left' | 'right' per column) defaults to the first column left, the rest right. */
export function markdownTable(table) {
  const escape = (cell) => String(cell).replaceAll('|', '\\|');
  const head = `| ${table.columns.map(escape).join(' | ')} |`;
  const align = table.align ?? table.columns.map((_, i) => (i === 0 ? 'left' : 'right'));
  const rule = `|${align.map((side) => (side === 'left' ? ' --- ' : ' ---: ')).join('|')}|`;
  return [head, rule, ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`)].join('\n');
}

/**
 * Checks a measured value against a target and returns the record the report prints.
 * @param {string} name what is compared
 * @param {number} value measured value
 * @param {'>=' | '<='} op
 * @param {number} bound
 * @param {(v: number) => string} format
 */
export function target(name, value, op, bound, format = ratio) {
  const met = op === '>=' ? value >= bound : value <= bound;
  return { name, value, op, bound, met, shown: format(value), boundShown: `${op === '>=' ? '≥' : '≤'} ${format(bound)}` };
}
