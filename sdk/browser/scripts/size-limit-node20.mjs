/**
 * size-limit 14 needs Node.js 22.19 or later: it imports `glob` from `node:fs/promises` and calls
 * `Array.fromAsync`. The project runs on Node.js 20, so `npm run size` preloads this file, which supplies both
 * where they are missing (and does nothing on a newer Node.js): the real size-limit then runs unchanged.
 */
import { register } from 'node:module';

if (!Array.fromAsync) {
  Array.fromAsync = async (items) => {
    const out = [];
    for await (const item of items) out.push(item);
    return out;
  };
}
const fsPromises = await import('node:fs/promises');
if (!('glob' in fsPromises)) register(new URL('./fs-promises-glob-hook.mjs', import.meta.url));
