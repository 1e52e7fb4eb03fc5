/**
 * Builds the tracker into dist/ (gitignored): the script served at /sdk/signalhouse.js (an IIFE defining
 * `window.signalhouse`), one script per optional module (signalhouse.<module>.js, loaded by the core only when
 * enabled), each also precompressed (.gz, .br) for the server; the ES module build (esm/, modules split off by
 * dynamic import, `web-vitals` left to the user's bundler); and, when TypeScript is installed, the type
 * declarations (types/). `node build.mjs --js-only` skips the declarations. Run by the root `build:sdk`
 * (hence by `npm install`) and before the tests.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
export const MODULES = ['autocapture', 'vitals', 'errors'];

const common = { bundle: true, target: 'es2020', define: { __VERSION__: JSON.stringify(version) }, logLevel: 'warning', legalComments: 'none' };

/** Builds everything; returns the paths of the scripts the server serves. */
export async function buildSdk({ types = true } = {}) {
  rmSync(dist, { recursive: true, force: true });
  const scripts = [join(dist, 'signalhouse.js'), ...MODULES.map((m) => join(dist, `signalhouse.${m}.js`))];
  await Promise.all([
    build({ ...common, entryPoints: [join(src, 'iife.ts')], outfile: scripts[0], format: 'iife', minify: true }),
    ...MODULES.map((m, i) =>
      build({
        ...common,
        stdin: { contents: `import { install } from './modules/${m}.ts'; self.signalhouse?._m?.${m}?.(install);`, resolveDir: src, loader: 'ts' },
        outfile: scripts[i + 1],
        format: 'iife',
        minify: true,
      }),
    ),
    build({ ...common, entryPoints: [join(src, 'index.ts')], outdir: join(dist, 'esm'), format: 'esm', splitting: true, external: ['web-vitals'] }),
  ]);
  for (const file of scripts) {
    const code = readFileSync(file);
    writeFileSync(`${file}.gz`, gzipSync(code, { level: 9 }));
    writeFileSync(`${file}.br`, brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  }
  if (types) emitTypes();
  return scripts;
}

function emitTypes() {
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    console.warn('@signalhouse/browser: typescript is not installed, type declarations skipped');
    return;
  }
  const config = join(dist, 'tsconfig.types.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: '../tsconfig.json',
      compilerOptions: { noEmit: false, emitDeclarationOnly: true, declaration: true, rootDir: '../src', outDir: 'types' },
      include: ['../src/index.ts'],
    }),
  );
  try {
    execFileSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
  } finally {
    rmSync(config);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildSdk({ types: !process.argv.includes('--js-only') });
}
