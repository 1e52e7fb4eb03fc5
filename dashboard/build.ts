/**
 * `npm run build:dashboard` (also run by `npm install` through `prepare`, and before the tests): one esbuild step
 * bundles dashboard/src into dashboard/dist — `index.html` plus content-hashed `assets/app-<hash>.js` and
 * `.css`, each with gzip and brotli copies the server sends to clients that accept them. The build goes to a new
 * directory that then replaces dist, so a server never sees half of one.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
export const DASHBOARD_DIST = join(HERE, 'dist');

export interface DashboardBuild {
  /** Paths of the files written, relative to dist. */
  files: string[];
  /** Bytes of the bundle's JavaScript, minified and gzipped. */
  jsGzipBytes: number;
}

const gzip = (data: Buffer) => gzipSync(data, { level: 9 });
const brotli = (data: Buffer) => brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });

export async function buildDashboard(outDir = DASHBOARD_DIST): Promise<DashboardBuild> {
  const staging = `${outDir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  const result = await build({
    entryPoints: { app: join(HERE, 'src/main.ts') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    entryNames: 'assets/[name]-[hash]',
    outdir: staging,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => relative(staging, p));
  const js = outputs.find((p) => p.endsWith('.js'));
  const css = outputs.find((p) => p.endsWith('.css'));
  if (!js || !css) throw new Error(`dashboard build: expected a .js and a .css output, got ${outputs.join(', ')}`);
  const html = readFileSync(join(HERE, 'index.html'), 'utf8').replace('{{css}}', `/${css}`).replace('{{js}}', `/${js}`);
  writeFileSync(join(staging, 'index.html'), html);
  const files = [...outputs, 'index.html'];
  let jsGzipBytes = 0;
  for (const file of files) {
    const data = readFileSync(join(staging, file));
    const gz = gzip(data);
    if (file.endsWith('.js')) jsGzipBytes += gz.length;
    writeFileSync(join(staging, `${file}.gz`), gz);
    writeFileSync(join(staging, `${file}.br`), brotli(data));
  }
  rmSync(outDir, { recursive: true, force: true });
  renameSync(staging, outDir);
  return { files, jsGzipBytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { files, jsGzipBytes } = await buildDashboard();
  process.stdout.write(`dashboard built: ${files.join(', ')} in ${relative(process.cwd(), DASHBOARD_DIST)}/ (JS ${(jsGzipBytes / 1024).toFixed(1)} KB gzip)\n`);
}
