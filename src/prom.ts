import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

// prom-client's parts, each from its own file. Its index also loads the Pushgateway (node:http,
// node:https), the cluster aggregator and every default metric (with @opentelemetry/api): about
// 50 ms of a start, before the first transfer (npm run bench: cold). The default metrics are
// loaded once the initial passes are done, or by an earlier scrape (metrics.ts). lib/ is not
// prom-client's public API: package-lock.json pins the version, and the unit tests load each part.
const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof Prom.Registry;
export const Counter = require('prom-client/lib/counter') as typeof Prom.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge;
export const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram;
export type Registry = Prom.Registry;
export type Counter = Prom.Counter;

/** prom-client's default metrics (process and Node.js), loaded on first use. */
export function loadDefaultMetrics(): typeof Prom.collectDefaultMetrics {
  return require('prom-client/lib/defaultMetrics') as typeof Prom.collectDefaultMetrics;
}
