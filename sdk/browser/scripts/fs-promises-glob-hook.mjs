/** Module hook: size-limit's `node:fs/promises` becomes fs-promises-glob.mjs (Node.js 20, see size-limit-node20.mjs). */
const SHIM = new URL('./fs-promises-glob.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'node:fs/promises' && context.parentURL?.includes('/node_modules/size-limit/')) return { url: SHIM, shortCircuit: true };
  return next(specifier, context);
}
