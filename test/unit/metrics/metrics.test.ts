import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics.ts';
import { localRsyncVersion, parseRsyncVersion } from '../../../src/rsync/local-version.ts';

describe('the lag and build metrics', () => {
  it("exports each target's lag as it is when scraped, 0 when nothing waits", async () => {
    const metrics = new Metrics();
    let oldest: number | undefined = Date.now() - 12_000;
    metrics.lag('u@a:22:/m', () => oldest);
    metrics.lag('u@b:22:/m', () => undefined);
    const scraped = await metrics.registry.metrics();
    const lag = Number(
      /^filesync_oldest_pending_change_seconds\{target="u@a:22:\/m"\} (\S+)$/m.exec(scraped)?.[1],
    );
    expect(lag).toBeGreaterThanOrEqual(12);
    expect(lag).toBeLessThan(20);
    expect(scraped).toMatch(/^filesync_oldest_pending_change_seconds\{target="u@b:22:\/m"\} 0$/m);
    oldest = undefined;
    expect(await metrics.registry.metrics()).toMatch(
      /^filesync_oldest_pending_change_seconds\{target="u@a:22:\/m"\} 0$/m,
    );
  });

  it("exports each target's state one-hot, and a watcher's fall-back", async () => {
    const metrics = new Metrics();
    let state: 'starting' | 'syncing' | 'failing' = 'starting';
    metrics.targetState('u@a:22:/m', () => state);
    state = 'failing';
    const scraped = await metrics.registry.metrics();
    expect(scraped).toMatch(/^filesync_target_state\{target="u@a:22:\/m",state="failing"\} 1$/m);
    expect(scraped).toMatch(/^filesync_target_state\{target="u@a:22:\/m",state="syncing"\} 0$/m);
    expect(scraped).toMatch(/^filesync_watch_fallback 0$/m);
    metrics.watchBackend({ backend: 'native' });
    expect(await metrics.registry.metrics()).toMatch(/^filesync_watch_fallback 0$/m);
    metrics.watchBackend({
      backend: 'poll',
      previous: { backend: 'native', cause: new Error('ENOSPC'), hint: 'raise it' },
    });
    expect(await metrics.registry.metrics()).toMatch(/^filesync_watch_fallback 1$/m);
  });

  it('labels build_info with the versions, and adds the process metrics, when first scraped', async () => {
    const metrics = new Metrics();
    let asked = 0;
    metrics.buildInfo(async () => {
      asked++;
      return { version: '0.1.0', node: 'v24.1.0', rsync: '3.2.7' };
    });
    // Nothing of it is done before a scrape: none of it is on the way to the first transfer.
    expect(asked).toBe(0);
    expect(await metrics.registry.metrics()).not.toMatch(/^filesync_process_cpu_seconds_total /m);
    const [first, second] = await Promise.all([metrics.scrape(), metrics.scrape()]);
    for (const scraped of [first, second]) {
      expect(scraped).toMatch(
        /^filesync_build_info\{version="0\.1\.0",node="v24\.1\.0",rsync="3\.2\.7"\} 1$/m,
      );
      expect(scraped).toMatch(/^filesync_process_cpu_seconds_total \d/m);
      expect(scraped).toMatch(/^filesync_nodejs_eventloop_lag_seconds \d/m);
    }
    expect(asked).toBe(1);
  });

  it('counts the CPU used before the process metrics were registered, and registers them once', async () => {
    const metrics = new Metrics();
    const spin = Date.now() + 100;
    while (Date.now() < spin); // CPU the process uses before the registration
    const used = process.cpuUsage();
    metrics.processMetrics();
    metrics.processMetrics();
    const scraped = await metrics.scrape();
    const cpu = Number(/^filesync_process_cpu_seconds_total (\S+)$/m.exec(scraped)?.[1]);
    expect(cpu).toBeGreaterThanOrEqual((used.user + used.system) / 1e6);
    const user = Number(/^filesync_process_cpu_user_seconds_total (\S+)$/m.exec(scraped)?.[1]);
    expect(user).toBeGreaterThanOrEqual(used.user / 1e6);
  });

  it('scrapes without build_info while its labels cannot be read, and asks again', async () => {
    const metrics = new Metrics();
    let fail = true;
    metrics.buildInfo(async () => {
      if (fail) throw new Error('no package.json');
      return { version: '0.1.0', node: 'v24.1.0', rsync: '3.2.7' };
    });
    expect(await metrics.scrape()).not.toMatch(/^filesync_build_info\{/m);
    fail = false;
    expect(await metrics.scrape()).toMatch(/^filesync_build_info\{version="0\.1\.0".*\} 1$/m);
  });

  it("reads rsync's version from its banner, and this machine's", async () => {
    expect(parseRsyncVersion('rsync  version 3.2.7  protocol version 31\nCopyright')).toBe('3.2.7');
    expect(parseRsyncVersion('rsync  version v3.4.1  protocol version 32')).toBe('3.4.1');
    expect(parseRsyncVersion('nonsense')).toBeUndefined();
    expect(await localRsyncVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
