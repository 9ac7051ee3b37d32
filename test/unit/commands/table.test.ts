import { describe, expect, it } from 'vitest';
import { COMMANDS, DEFAULT_COMMAND, usage } from '../../../src/commands/table.ts';
import { parseCommandLine } from '../../../src/main.ts';

const parsed = (...argv: string[]) => {
  const line = parseCommandLine(argv);
  return line.ok && 'command' in line ? { name: line.command.name, flags: line.flags } : line;
};

describe('the command line, parsed against the table', () => {
  it('runs watch when no command is named', () => {
    expect(DEFAULT_COMMAND).toBe('watch');
    expect(parsed()).toEqual({ name: 'watch', flags: {} });
  });

  it('finds each command by name, with the options it declares', () => {
    for (const { name } of COMMANDS) expect(parsed(name)).toMatchObject({ name });
    expect(parsed('verify', '--json')).toEqual({ name: 'verify', flags: { json: true } });
    expect(parsed('status', '--json')).toEqual({ name: 'status', flags: { json: true } });
    expect(parsed('sync', '--timeout', '5s', '--no-wait')).toEqual({
      name: 'sync',
      flags: { timeout: '5s', 'no-wait': true },
    });
  });

  it('takes help as a command, --help or -h, whatever else is there; and --version', () => {
    expect(parsed('help')).toMatchObject({ name: 'help' });
    expect(parsed('--help')).toMatchObject({ name: 'help' });
    expect(parsed('once', '-h')).toMatchObject({ name: 'help' });
    expect(parsed('-v')).toEqual({ ok: true, version: true });
    expect(parsed('help', '-v')).toEqual({ ok: true, version: true }); // as before the table
  });

  it('names what is wrong: an unknown command, arguments, an option another command takes, an unknown flag', () => {
    expect(parsed('frobnicate')).toEqual({ ok: false, message: 'unknown command "frobnicate"' });
    expect(parsed('check', 'extra')).toEqual({ ok: false, message: 'check takes no arguments, got "extra"' });
    expect(parsed('once', '--json')).toEqual({ ok: false, message: '--json applies to verify, status only' });
    expect(parsed('--bogus')).toMatchObject({ ok: false, message: expect.stringMatching(/--bogus/) });
  });
});

describe('the usage text, generated from the table', () => {
  const text = usage();

  it('lists every command with its summary and options, in the table order', () => {
    expect(text).toMatch(
      /^Usage: filesync \[watch\|once\|check\|verify \[--json\]\|status \[--json\]\|sync \[--timeout <duration>\] \[--no-wait\]\|pause \[--for <duration>\]\|resume\|help\]$/m,
    );
    for (const { name, summary } of COMMANDS)
      expect(text).toMatch(new RegExp(`^  ${name}\\b.* ${summary.replace(/[()]/g, '\\$&')}$`, 'm'));
  });

  it('says where the settings are documented and every exit code', () => {
    expect(text).toContain('see docs/configuration.md');
    expect(text).toContain('64 usage error, 78 invalid configuration');
    expect(text).toContain('verify: 0 in sync, 1 drifted, 2 could not compare');
    expect(text).toContain('status: 0 healthy, 1 not, 2 no daemon answered');
  });
});
