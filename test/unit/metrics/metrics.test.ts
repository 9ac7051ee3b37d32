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

  it('labels build_info with the versions', async () => {
    const metrics = new Metrics();
    metrics.buildInfo({ version: '0.1.0', node: 'v24.1.0', rsync: '3.2.7' });
    expect(await metrics.registry.metrics()).toMatch(
      /^filesync_build_info\{version="0\.1\.0",node="v24\.1\.0",rsync="3\.2\.7"\} 1$/m,
    );
  });

  it("reads rsync's version from its banner, and this machine's", async () => {
    expect(parseRsyncVersion('rsync  version 3.2.7  protocol version 31\nCopyright')).toBe('3.2.7');
    expect(parseRsyncVersion('rsync  version v3.4.1  protocol version 32')).toBe('3.4.1');
    expect(parseRsyncVersion('nonsense')).toBeUndefined();
    expect(await localRsyncVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
