/**
 * The layers (docs/architecture.md, "Layers"): imports run one way. `core` and `semconv` are the ground floor,
 * `storage` sits on them, the components (receivers, processors, exporters, query, alerting, experiments) on
 * those and never on each other (alerting and experiments may use query), and `service` assembles everything on
 * top. Only tests and benchmarks import `service`. `sdk` and `dashboard` import no server code, except that
 * `sdk/node` takes names from semconv. Checked by `npm run lint`.
 */
const COMPONENTS = ['receiver', 'processors', 'exporters', 'query', 'alerting', 'experiments'];
const TESTS = '(^test/|^bench/|\\.test\\.ts$)';

module.exports = {
  forbidden: [
    {
      name: 'semconv-imports-nothing',
      comment: 'semconv holds names and schemas; it imports no other layer.',
      severity: 'error',
      from: { path: '^semconv/' },
      to: { path: '^(core|storage|service|receiver|processors|exporters|query|alerting|experiments|sdk|dashboard)/' },
    },
    {
      name: 'core-imports-only-semconv',
      severity: 'error',
      from: { path: '^core/', pathNot: TESTS },
      to: { path: '^(storage|service|receiver|processors|exporters|query|alerting|experiments|sdk|dashboard)/' },
    },
    {
      name: 'storage-imports-only-core-and-semconv',
      severity: 'error',
      from: { path: '^storage/', pathNot: TESTS },
      to: { path: '^(service|receiver|processors|exporters|query|alerting|experiments|sdk|dashboard)/' },
    },
    ...COMPONENTS.map((component) => ({
      name: `${component}-imports-no-other-component`,
      comment: 'Components import the layers below them, never each other (alerting and experiments may use query).',
      severity: 'error',
      from: { path: `^${component}/`, pathNot: TESTS },
      to: {
        path: `^(${COMPONENTS.filter((c) => c !== component && !(['alerting', 'experiments'].includes(component) && c === 'query')).join('|')}|service|sdk|dashboard)/`,
      },
    })),
    {
      name: 'only-tests-import-service',
      severity: 'error',
      from: { pathNot: `(^service/|${TESTS})` },
      to: { path: '^service/' },
    },
    {
      name: 'sdk-and-dashboard-import-no-server-code',
      comment: 'sdk/ and dashboard/ ship to users and run apart from the server.',
      severity: 'error',
      from: { path: '^(sdk|dashboard)/' },
      to: { path: '^(core|storage|service|receiver|processors|exporters|query|alerting|experiments)/' },
    },
    {
      name: 'only-sdk-node-imports-semconv',
      comment: 'sdk/node takes its event and attribute names from semconv, which imports nothing; nothing else shipped to users does.',
      severity: 'error',
      from: { path: '^(sdk|dashboard)/', pathNot: '^sdk/node/' },
      to: { path: '^semconv/' },
    },
    {
      name: 'sdk-node-imports-plain-semconv',
      comment: "sdk/node bundles semconv's plain-data modules only (not the zod schemas), so the package needs no zod.",
      severity: 'error',
      from: { path: '^sdk/node/', pathNot: TESTS },
      to: { path: '^semconv/', pathNot: '^semconv/(attributes|event-attributes)\\.ts$' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^node_modules|^\\.scratch|^data/|^grafana/dashboards|/dist/)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
