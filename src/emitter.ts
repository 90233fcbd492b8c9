import mittImport, { type Emitter, type EventType } from 'mitt';

/**
 * `mitt`'s factory, typed. mitt ships ESM at runtime but one CommonJS-style `index.d.ts`,
 * which TypeScript's NodeNext resolution reads as a namespace; this restores its signature.
 */
export const createEmitter = mittImport as unknown as <Events extends Record<EventType, unknown>>() => Emitter<Events>;
