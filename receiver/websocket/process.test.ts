/**
 * WebSocket ingest against a real server process: killed with SIGKILL in the middle of a stream and restarted on
 * the same data directory, every acknowledged message is stored exactly once, also when the client sends again
 * what it had no ack for (and some it had); and SIGTERM answers the messages in flight, then closes with 1001.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { metricValue } from '../../test/helpers/metrics.ts';
import { startServerProcess } from '../../test/helpers/process.ts';
import { landedRows, withStore } from '../../test/helpers/store.ts';
import { connectWs, type WsClient } from '../../test/helpers/websocket.ts';

const root = mkdtempSync(join(tmpdir(), 'sh-ws-process-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const KEY = 'wk_demo_websocket';
const PER_MESSAGE = 20;

function serverFiles(name: string, exporter: string): { dataDir: string; configPath: string } {
  const configPath = join(root, `${name}.yaml`);
  writeFileSync(configPath, `tenants:\n  - id: demo\n    write_keys: [${KEY}]\nexporters:\n  clickhouse:\n${exporter}`);
  return { dataDir: join(root, name), configPath };
}

/** Message `m`: events with ids of their own in even messages, named by the message id in odd ones. */
function message(m: number, eventName: string) {
  const id = `msg-${m}`;
  const events = Array.from({ length: PER_MESSAGE }, (_, i) => ({
    event_id: m % 2 === 0 ? `${id}-e${i}` : undefined,
    event_name: eventName,
    user_id: 'u',
    attributes: { msg: id },
  }));
  return { type: 'batch', id, events };
}

async function ready(url: string): Promise<WsClient> {
  const client = await connectWs(url, { key: KEY });
  await client.next((m) => m.type === 'ready');
  return client;
}

/** Per message id: [rows, distinct event ids] stored for it. */
async function storedByMessage(dataDir: string, eventName: string): Promise<Map<string, [number, number]>> {
  let out = new Map<string, [number, number]>();
  await withStore(dataDir, async (store) => {
    const rs = await store.client.query({
      query:
        "SELECT LogAttributes['msg'] AS msg, count() AS n, uniqExact(EventId) AS ids FROM signalhouse.otel_logs WHERE EventName = {name:String} GROUP BY msg",
      query_params: { name: eventName },
      format: 'JSONEachRow',
    });
    out = new Map((await rs.json<{ msg: string; n: string; ids: string }>()).map((r) => [r.msg, [Number(r.n), Number(r.ids)]]));
    expect(await landedRows(store)).toBe(0);
  });
  return out;
}

it('keeps every acknowledged message across kill -9 and restart, exactly once, also when messages are sent again', async () => {
  // Acknowledged rows stay in the landing slots until the kill: recovery moves them at the next start.
  const { dataDir, configPath } = serverFiles('kill', '    landing: { max_rows: 100000, move_delay: 1h }\n');
  const first = await startServerProcess({ dataDir, configPath });
  const client = await ready(first.url);
  const acknowledged = new Set<number>();
  let next = 0;
  let killed = false;
  // Up to 32 messages in flight on the one connection, each sent again after an answer that is not an ack.
  const sender = async () => {
    while (!killed) {
      const m = next++;
      client.send(message(m, 'ws.crash'));
      const answer = await client.answer(`msg-${m}`).catch(() => undefined);
      if (answer?.type === 'ack' && answer.accepted === PER_MESSAGE && !killed) acknowledged.add(m);
    }
  };
  const senders = Array.from({ length: 32 }, sender);
  while (acknowledged.size < 150) await sleep(5);
  first.child.kill('SIGKILL');
  killed = true;
  expect(await first.exited).toBe('SIGKILL');
  await Promise.all(senders);
  expect((await client.closed).code).toBe(1006);
  const sent = next;

  const second = await startServerProcess({ dataDir, configPath });
  const again = await ready(second.url);
  // What had no ack, and a few that had one (as a client does that lost its acks with the connection).
  const resend = [...Array.from({ length: sent }, (_, m) => m).filter((m) => !acknowledged.has(m)), ...[...acknowledged].slice(0, 10)];
  for (const m of resend) again.send(message(m, 'ws.crash'));
  const answers = await Promise.all(resend.map((m) => again.answer(`msg-${m}`)));
  expect(answers.filter((a) => a.type === 'ack' && a.accepted === PER_MESSAGE)).toHaveLength(resend.length);
  again.socket.close();
  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);

  const stored = await storedByMessage(dataDir, 'ws.crash');
  for (let m = 0; m < sent; m++) expect([m, stored.get(`msg-${m}`)]).toEqual([m, [PER_MESSAGE, PER_MESSAGE]]);
  expect(stored.size).toBe(sent);
});

it('on SIGTERM answers the messages in flight, closes with 1001 and exits 0 with every acknowledged event stored', async () => {
  // A long group-commit delay: the messages are still waiting for their commit when SIGTERM arrives.
  const { dataDir, configPath } = serverFiles('term', '    batch: { max_delay: 20s }\n');
  const server = await startServerProcess({ dataDir, configPath });
  const client = await ready(server.url);
  const messages = 10;
  for (let m = 0; m < messages; m++) client.send(message(m, 'ws.term'));
  while ((await metricValue(server.url, 'signalhouse_websocket_in_flight_messages')) < messages) await sleep(10);
  server.child.kill('SIGTERM');
  const answers = await Promise.all(Array.from({ length: messages }, (_, m) => client.answer(`msg-${m}`)));
  expect(await client.closed).toEqual({ code: 1001, reason: 'server shutting down' });
  expect(await server.exited).toBe(0);
  expect(answers.filter((a) => a.type === 'ack' && a.accepted === PER_MESSAGE)).toHaveLength(messages);
  const stored = await storedByMessage(dataDir, 'ws.term');
  expect([...stored.values()]).toEqual(Array.from({ length: messages }, () => [PER_MESSAGE, PER_MESSAGE]));
});
