/** OTLP/JSON request bodies for tests and benchmarks: `n` product events with unique ids. */
export function otlpJsonLogs(n: number, opts: { prefix: string; eventName?: string; timeUnixNano?: bigint }): string {
  const base = opts.timeUnixNano ?? BigInt(Date.now()) * 1_000_000n;
  const logRecords = [];
  for (let i = 0; i < n; i++) {
    logRecords.push({
      timeUnixNano: String(base + BigInt(i)),
      eventName: opts.eventName ?? 'ai.tool_call_completed',
      attributes: [
        { key: 'log.record.uid', value: { stringValue: `${opts.prefix}-${i}` } },
        { key: 'gen_ai.tool.name', value: { stringValue: 'lookup_order' } },
        { key: 'ai.tool.duration_ms', value: { intValue: String(100 + (i % 50)) } },
        { key: 'ai.tool.success', value: { boolValue: i % 7 !== 0 } },
        { key: 'session.id', value: { stringValue: `s-${i % 13}` } },
      ],
    });
  }
  return JSON.stringify({
    resourceLogs: [
      { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'loadgen' } }] }, scopeLogs: [{ scope: { name: 'test' }, logRecords }] },
    ],
  });
}
