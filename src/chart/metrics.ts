// Sizes the layout and the SVG share, in px. Text is measured by counting characters of a
// 12px monospace font instead of asking a font, so a layout is the same on every machine.
import { detailLines, type ChartNode } from './model.js';

/** Advance of one character of the 12px monospace font: 0.6 em, as in DejaVu Sans Mono, Menlo and Consolas. */
export const CHAR_WIDTH = 7.2;
/** Height of one line of 12px text. */
export const LINE_HEIGHT = 16;
/** Space between a box's border and its text or its children. */
export const BOX_PADDING = 8;
/** Narrowest box of a state, so short keys still get a readable box. */
export const MIN_BOX_WIDTH = 72;
/** Diameter of a history state's circle. */
export const HISTORY_SIZE = 28;
/** Diameter of an initial marker's dot. */
export const MARKER_SIZE = 10;
/** Inset of a final state's inner border. */
export const FINAL_INSET = 3;

/** Width of a line of text, in px. */
export function textWidth(text: string): number {
  return text.length * CHAR_WIDTH;
}

/** Height of a state's key and detail lines ({@link detailLines}) with the padding around them, in px. */
export function headerHeight(node: ChartNode): number {
  const details = detailLines(node).length;
  return BOX_PADDING + LINE_HEIGHT * (1 + details) + (details > 0 ? 4 : 0);
}
