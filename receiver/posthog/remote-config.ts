/**
 * The remote config posthog-js loads before it captures: `GET /array/<key>/config` (JSON) or `config.js` (a
 * script that leaves it in `window._POSTHOG_REMOTE_CONFIG[<key>]`, which posthog-js tries first), and, for
 * older versions, inside the `/decide` answer. It offers gzip (`supportedCompression`), turns autocapture on
 * (`autocapture_opt_out: false`: posthog-js keeps autocapture off until a config says so) with the element chain
 * as one string (`elementsChainAsString`), and turns off what Signalhouse does not serve: session recordings,
 * product tours, heatmaps, dead clicks, web vitals and network timing (`capturePerformance`), exception
 * autocapture, console logs, conversations and site apps (each would load a script or send to an endpoint that
 * is not here). It names no `surveys`: posthog-js loads its surveys script from `api_host` whenever the config
 * names them, `false` included, and loads nothing without. `hasFeatureFlags` comes from the flags evaluator.
 */
import type { Json } from '../product/common.ts';
import type { PosthogReceiverConfig } from './config.ts';

export type RemoteConfig = Readonly<Json>;

/** What the config says for every key of this receiver; built once. */
export function baseRemoteConfig(config: Pick<PosthogReceiverConfig, 'autocapture'>): RemoteConfig {
  return Object.freeze({
    supportedCompression: ['gzip', 'gzip-js'],
    autocapture_opt_out: !config.autocapture,
    elementsChainAsString: true,
    capturePerformance: false,
    autocaptureExceptions: false,
    errorTracking: { autocaptureExceptions: false, suppressionRules: [] },
    logs: { captureConsoleLogs: false },
    sessionRecording: false,
    productTours: false,
    heatmaps: false,
    captureDeadClicks: false,
    conversations: false,
    defaultIdentifiedOnly: true,
    siteApps: [],
  });
}

/** The config for one key: the base, its token and whether its tenant has flags. */
export function remoteConfigFor(base: RemoteConfig, token: string, hasFeatureFlags: boolean): Json {
  return { token, ...base, hasFeatureFlags };
}

/** What `/decide` adds for the versions that read it there (the toolbar's and the old autocapture switch). */
export function decideConfig(base: RemoteConfig): Json {
  return {
    ...base,
    config: { enable_collect_everything: base.autocapture_opt_out === false },
    toolbarParams: {},
    editorParams: {},
    isAuthenticated: false,
  };
}

/** `config.js`: the config as posthog-js's loader expects it, JSON-encoded (so any key is a plain string). */
export function remoteConfigScript(token: string, config: Json): string {
  const key = JSON.stringify(token);
  return (
    '(function(){window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};' +
    `window._POSTHOG_REMOTE_CONFIG[${key}]={config:${JSON.stringify(config)},siteApps:[]};})();\n`
  );
}
