import { describe, expect, it } from 'vitest';
import { unknownSettings } from '../../../src/config/unknown.ts';

describe('unknownSettings', () => {
  it('names SYNC_* variables that are no setting, with the closest known one', () => {
    expect(
      unknownSettings({
        SYNC_REMOTE_HSOT: 'x',
        SYNC_DEBOUNSE: '1s',
        SYNC_WHATEVER_ELSE_ENTIRELY: '1',
        SYNC_REMOTE_HOST: 'fine',
        PATH: '/usr/bin',
      }),
    ).toEqual([
      'SYNC_DEBOUNSE is not a filesync setting; did you mean SYNC_DEBOUNCE? (docs/configuration.md lists them all)',
      'SYNC_REMOTE_HSOT is not a filesync setting; did you mean SYNC_REMOTE_HOST? (docs/configuration.md lists them all)',
      'SYNC_WHATEVER_ELSE_ENTIRELY is not a filesync setting (docs/configuration.md lists them all)',
    ]);
  });

  it('has nothing to say of known settings and other variables', () => {
    expect(unknownSettings({ SYNC_SOURCE_DIR: '/data', HOME: '/root', LOG_LEVEL: 'info' })).toEqual([]);
  });
});
