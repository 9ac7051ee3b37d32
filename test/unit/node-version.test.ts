import { describe, expect, it } from 'vitest';
import { nodeTooOld } from '../../src/node-version.ts';

describe('nodeTooOld', () => {
  it('refuses a Node older than 22.12 with what to do, and takes any newer one', () => {
    expect(nodeTooOld('v20.20.2')).toMatch(
      /needs Node.js 22.12 or newer.*this is Node v20.20.2.*container image/,
    );
    expect(nodeTooOld('v22.11.0')).toBeDefined();
    for (const version of ['v22.12.0', 'v22.20.1', 'v24.22.3', 'v25.0.0'])
      expect(nodeTooOld(version)).toBeUndefined();
  });
});
