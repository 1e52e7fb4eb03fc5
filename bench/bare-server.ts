/**
 * The baseline for `bench:ingest`: a bare Fastify server that only parses the OTLP payload (Fastify's JSON
 * parser, or the same protobuf decoder Signalhouse uses) and answers 200. No pipeline, no storage.
 */
import Fastify from 'fastify';
import { parseConfig } from '../core/config.ts';
import { decodeLogsProtobuf } from '../receiver/otlp/protobuf.ts';

const limits = parseConfig({}, {}).receivers.otlp!.limits;
const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer' }, (_req, body, done) => {
  try {
    done(null, decodeLogsProtobuf(body as Buffer, { tenantId: 'bench', limits, receivedAtUnixNano: 0n, rejections: [] }));
  } catch (err) {
    done(err as Error);
  }
});
app.post('/v1/logs', async () => ({}));
app.get('/ready', async () => ({ status: 'ready' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
