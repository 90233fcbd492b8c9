// Module resolve hook (registered by distSnapshot.mjs): <repo>/dist/… → the snapshot of it.
let from = '';
let to = '';

export function initialize(data) {
  from = data.from;
  to = data.to;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  return resolved.url.startsWith(from) ? { ...resolved, url: `${to}${resolved.url.slice(from.length)}` } : resolved;
}
