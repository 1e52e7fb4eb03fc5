/**
 * WebSocket ingest (`GET /api/v1/analytics/ws`, upgraded): `@fastify/websocket` registered in the receiver's
 * own plugin scope, so its options (the message size limit) and hooks are this receiver's. The receiver keeps
 * its connections: it bounds their number, pings them (a peer that answers nothing to two pings in a row is
 * dropped), and drains them at shutdown (messages read are answered, then the connection closes with 1001),
 * before the exporters drain. A plain GET is answered 426.
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Receiver, ReceiverSettings } from '../../core/components.ts';
import { SignalhouseError } from '../../core/errors.ts';
import { receiverCounters } from '../receiverhelper/counters.ts';
import { receiverScope } from '../receiverhelper/replies.ts';
import type { WebsocketReceiverConfig } from './config.ts';
import { type Connection, type ConnectionHost, openConnection } from './connection.ts';
import { CLOSE, SUBPROTOCOL } from './protocol.ts';

export const WEBSOCKET_PATH = '/api/v1/analytics/ws';

export function websocketReceiver(config: WebsocketReceiverConfig, settings: ReceiverSettings): Receiver {
  const { name, pipelines, tenants, telemetry, byteBudget, rateLimits } = settings;
  const pipeline = pipelines.find(name, 'logs');
  const counters = receiverCounters(telemetry, name);
  const connections = new Set<Connection>();
  let draining = false;
  let keepalive: NodeJS.Timeout | undefined;

  async function routes(app: FastifyInstance): Promise<void> {
    if (!pipeline) return;
    const host: ConnectionHost = {
      config,
      pipeline,
      tenants,
      rateLimits,
      counters,
      records: counters.signal('logs'),
      budget: byteBudget,
      telemetry,
      readyText: JSON.stringify({
        type: 'ready',
        protocol: SUBPROTOCOL,
        limits: {
          max_message_size: config.max_message_size,
          max_batch_events: config.max_batch_events,
          max_event_size: config.max_event_size,
          max_in_flight_messages: config.max_in_flight_messages,
          max_in_flight_bytes: config.max_in_flight_bytes,
        },
      }),
    };
    receiverScope(app, { counters, wireLimit: config.max_message_size });
    await app.register(websocket, {
      options: {
        maxPayload: config.max_message_size,
        // The receiver keeps its own set of connections.
        clientTracking: false,
        handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
      },
      // Errors on an open socket (a protocol error, a message over the limit, a reset) close it already, with
      // the code the WebSocket library chose (1002, 1007, 1009); anything else cuts it.
      errorHandler(error, socket, request) {
        request.log.debug({ err: error }, 'websocket connection error');
        if (socket.readyState === socket.OPEN) socket.terminate();
      },
      // Connections are drained before the server closes (`drain`); whatever is left then is cut.
      preClose(done) {
        for (const c of connections) c.terminate();
        done();
      },
    });
    app.route({
      method: 'GET',
      url: WEBSOCKET_PATH,
      config: { acceptsWebSocket: true },
      handler: async () => {
        throw new SignalhouseError('UPGRADE_REQUIRED', `${WEBSOCKET_PATH} takes WebSocket connections (Upgrade: websocket)`);
      },
      wsHandler(socket, request) {
        if (draining) {
          socket.close(CLOSE.GOING_AWAY, 'server shutting down');
          return;
        }
        if (connections.size >= config.max_connections) {
          counters.failed(503);
          telemetry.websocketClosedConnections.inc({ code: String(CLOSE.TRY_AGAIN_LATER) });
          socket.close(CLOSE.TRY_AGAIN_LATER, 'too many connections, retry later');
          return;
        }
        const connection = openConnection(socket, request, host);
        connections.add(connection);
        void connection.closed.then(() => connections.delete(connection));
      },
    });
    keepalive = setInterval(() => {
      for (const c of connections) c.keepalive();
    }, config.ping_interval);
    keepalive.unref();
    app.addHook('onClose', async () => clearInterval(keepalive));
  }

  return {
    name,
    routes,
    async drain() {
      draining = true;
      clearInterval(keepalive);
      const refusal = new SignalhouseError('SHUTTING_DOWN', 'server is shutting down, send again after reconnecting', { retryAfterSeconds: 1 });
      await Promise.all([...connections].map((c) => c.finish(CLOSE.GOING_AWAY, 'server shutting down', refusal)));
    },
  };
}
