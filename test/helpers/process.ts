/**
 * Runs Signalhouse as a real child process (`node --enable-experimental-regexp-engine --import tsx
 * service/main.ts`, as `npm start` does), for tests that kill it or need their own store directory. Resolves once `/ready` answers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export interface ServerProcess {
  readonly url: string;
  /** The gRPC listener's `host:port` (GRPC_PORT). */
  readonly grpcAddress: string;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | string>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

/** `viaNpmStart` runs the README's `npm start` (signals then go to npm, as when a user stops it). */
export async function startServerProcess(opts: {
  dataDir: string;
  configPath?: string;
  env?: Record<string, string>;
  viaNpmStart?: boolean;
}): Promise<ServerProcess> {
  const port = await freePort();
  const grpcPort = await freePort();
  const configArgs = opts.configPath ? ['--config', opts.configPath] : [];
  const [command, args] = opts.viaNpmStart
    ? ['npm', ['start', '--silent', '--', ...configArgs]]
    : [process.execPath, ['--enable-experimental-regexp-engine', '--import', 'tsx', join(ROOT, 'service', 'main.ts'), ...configArgs]];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      GRPC_PORT: String(grpcPort),
      HOST: '127.0.0.1',
      SIGNALHOUSE_DATA_DIR: opts.dataDir,
      LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited before it was ready:\n${out}`);
    try {
      const res = await fetch(`${url}/ready`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not ready after 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, grpcAddress: `127.0.0.1:${grpcPort}`, child, exited, output: () => out };
}
