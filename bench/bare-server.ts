/**
 * The baselines for `bench:ingest`: a bare Fastify server that parses the OTLP payload (Fastify's JSON parser,
 * or the same protobuf decoder Signalhouse uses) and, with `BARE_REPLY=echo` (the targets' "a bare Fastify JSON
 * echo of the same payload"), echoes it back: the parsed JSON re-serialized, the protobuf bytes as received.
 * With `BARE_REPLY=parse` it only parses and answers `{}` (an empty protobuf message for protobuf): the cost of
 * receiving and parsing alone, since the echo's serialization doubles the JSON baseline's work. No pipeline, no
 * storage.
 */
import Fastify from 'fastify';
import { otlpReceiverSchema } from '../receiver/otlp/config.ts';
import { decodeLogsProtobuf } from '../receiver/otlp/protobuf.ts';

const echo = process.env.BARE_REPLY !== 'parse';
const limits = otlpReceiverSchema.parse({}).limits;
const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
const EMPTY = Buffer.alloc(0);
app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer' }, (_req, body, done) => {
  try {
    decodeLogsProtobuf(body as Buffer, { tenantId: 'bench', limits, receivedAtUnixNano: 0n, rejections: [] });
    done(null, body);
  } catch (err) {
    done(err as Error);
  }
});
app.post('/v1/logs', async (request, reply) => {
  if (Buffer.isBuffer(request.body)) return reply.type('application/x-protobuf').send(echo ? request.body : EMPTY);
  return echo ? request.body : {};
});
app.get('/ready', async () => ({ status: 'ready' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
