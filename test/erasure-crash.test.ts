/**
 * An erasure survives kill -9: the server is killed as soon as it has answered the erasure request (its job is
 * stored, its work under way), started again on the same data directory, and the job resumes and completes. Then
 * tenant acme, which held Alice, answers every query exactly as tenant control, which never did, and the stored
 * rows match too (test/helpers/people.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { answers, sendPeople, stored } from './helpers/people.ts';
import { startServerProcess } from './helpers/process.ts';
import { withStore } from './helpers/store.ts';

const root = mkdtempSync(join(tmpdir(), 'sh-erasure-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ADMIN = 'at_acme_crash_admin';

it('resumes an erasure cut short by kill -9 and completes it at the next start', async () => {
  const dataDir = join(root, 'data');
  const configPath = join(root, 'signalhouse.yaml');
  writeFileSync(
    configPath,
    [
      'tenants:',
      '  - { id: acme, write_keys: [wk_acme_crash], read_tokens: [rt_acme_crash], admin_tokens: [at_acme_crash_admin] }',
      '  - { id: control, write_keys: [wk_control_crash], read_tokens: [rt_control_crash] }',
      '',
    ].join('\n'),
  );
  const first = await startServerProcess({ dataDir, configPath });
  await sendPeople(first.url, 'wk_acme_crash', true);
  await sendPeople(first.url, 'wk_control_crash', false);
  const created = await fetch(`${first.url}/api/v1/privacy/erasures`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'alice' }),
  });
  // Killed on the reply's headers: the job is stored and has only begun.
  first.child.kill('SIGKILL');
  expect(created.status).toBe(202);
  const location = created.headers.get('location')!;
  expect(await first.exited).toBe('SIGKILL');

  await withStore(dataDir, async (store) => {
    const rs = await store.client.query({ query: 'SELECT Status FROM signalhouse.privacy_jobs FINAL', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ Status: 'running' }]);
  });

  const second = await startServerProcess({ dataDir, configPath });
  let job: Record<string, unknown>;
  for (;;) {
    const res = await fetch(`${second.url}${location}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    job = (await res.json()) as Record<string, unknown>;
    if (job.status !== 'running') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(job).toMatchObject({ status: 'done', erased: { events: 15, spans: 3 } });
  expect(await answers(second.url, 'rt_acme_crash')).toEqual(await answers(second.url, 'rt_control_crash'));
  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);

  await withStore(dataDir, async (store) => {
    const rows = async (sql: string, params: Record<string, unknown>) =>
      (await store.client.query({ query: sql, query_params: params, format: 'JSONEachRow' })).json<Record<string, unknown>>();
    expect(await stored(rows, 'acme')).toEqual(await stored(rows, 'control'));
  });
});
