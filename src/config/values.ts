import { isIPv6 } from 'node:net';
import { EnvError, makeExactValidator } from 'envalid';
import { parseDuration } from './duration.ts';

// The parsers of the settings' values: each takes the text of an environment variable and
// returns its value, or throws an EnvError that says what was expected and what was received.

const fail = (expected: string, input: string): never => {
  throw new EnvError(`expected ${expected}, got ${JSON.stringify(input)}`);
};

export const duration = makeExactValidator<number>(
  (input) => parseDuration(input) ?? fail('a duration such as 500ms, 5s, 2m or 1h', input),
);

/** Comma-separated list; blanks around items are ignored. */
export const list = makeExactValidator<readonly string[]>((input) =>
  Object.freeze(
    input
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  ),
);

export const text = makeExactValidator<string>((input) =>
  input.trim() === '' ? fail('a non-empty value', input) : input,
);

export const absolutePath = makeExactValidator<string>((input) =>
  input.startsWith('/') && !/[\n\r\0]/.test(input)
    ? input
    : fail('an absolute path (starting with /, no newlines)', input),
);

// Blank counts as unset for these two (load.ts reads '' as off), so compose's `${VAR:-}` can
// leave them off.
export const httpUrl = makeExactValidator<string>((input) => {
  if (input.trim() === '') return '';
  const url = URL.parse(input.trim());
  if (url !== null && (url.username !== '' || url.password !== ''))
    return fail('a URL without user:password@ (put a token in its path or query)', `${url.protocol}//…@…`);
  return url !== null && (url.protocol === 'http:' || url.protocol === 'https:')
    ? input.trim()
    : fail('an http:// or https:// URL', url === null ? '(not a URL)' : `${url.protocol}…`);
});

/** A directory at the top of the remote one: one name, no wildcard characters. */
export const topLevelName = makeExactValidator<string>((input) => {
  if (input.trim() === '') return '';
  const name = input.trim().replace(/\/+$/, '');
  return /^[^/*?[\]\\\n\r\0]+$/.test(name) && name !== '.' && name !== '..'
    ? name
    : fail(
        'one directory name at the top of SYNC_REMOTE_DIR, such as .filesync-trash (no "/", "*", "?", "[")',
        input,
      );
});

export const hostname = makeExactValidator<string>((input) =>
  /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(input) || isIPv6(input)
    ? input
    : fail('a host name or IP address', input),
);

export const username = makeExactValidator<string>((input) =>
  /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(input)
    ? input
    : fail('a user name (letters, digits, ".", "_", "-"; not starting with "-")', input),
);

export const port = (allowZero: boolean) =>
  makeExactValidator<number>((input) => {
    const value = Number(input);
    const min = allowZero ? 0 : 1;
    return /^\d+$/.test(input) && value >= min && value <= 65535
      ? value
      : fail(`a port number from ${min} to 65535`, input);
  });

export const bandwidth = makeExactValidator<string>((input) =>
  /^\d+(\.\d+)?[KMGkmg]?$/.test(input)
    ? input
    : fail('a bandwidth in KiB/s such as 1000, or with a unit: 500K, 1.5M', input),
);

export const count = makeExactValidator<number>((input) =>
  /^\d+$/.test(input) && Number(input) >= 1 ? Number(input) : fail('a whole number of at least 1', input),
);

export const words = makeExactValidator<readonly string[]>((input) =>
  Object.freeze(input.split(/\s+/).filter((word) => word !== '')),
);

/** A command as a JSON array of strings, run without a shell; blank is off. */
export const argv = makeExactValidator<readonly string[]>((input) => {
  if (input.trim() === '') return Object.freeze([]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(input);
  } catch {
    return fail(
      'a JSON array of strings such as ["nginx", "-s", "reload"] (no shell: use ["sh", "-c", "…"] for one)',
      input,
    );
  }
  return Array.isArray(parsed) &&
    parsed.length > 0 &&
    parsed.every((word) => typeof word === 'string' && !word.includes('\0')) &&
    parsed[0] !== ''
    ? Object.freeze(parsed as string[])
    : fail('a non-empty JSON array of strings, the program first, such as ["nginx", "-s", "reload"]', input);
});

/** rsync's --chown: `user`, `user:group` or `:group`, by name or number. */
export const owner = makeExactValidator<string>((input) => {
  const value = input.trim();
  if (value === '') return '';
  const name = '(?:[A-Za-z_][A-Za-z0-9_.-]*\\$?|\\d+)';
  return new RegExp(`^(?:${name}(?::${name})?|:${name})$`).test(value)
    ? value
    : fail('user, user:group or :group (names or numeric ids), such as www-data:www-data', input);
});

/** rsync's --usermap/--groupmap: comma-separated `from:to`, from a name, id, range or wildcard. */
export const idMap = makeExactValidator<readonly string[]>((input) => {
  const items = input
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const bad = items.find(
    (item) => !/^(?:[A-Za-z0-9_.*?[\]-]+|\d+-\d+):(?:[A-Za-z_][A-Za-z0-9_.-]*|\d+)$/.test(item),
  );
  return bad === undefined
    ? Object.freeze(items)
    : fail(
        'comma-separated from:to pairs, such as 1000:www-data,*:nobody (a name, id, low-high range or wildcard, then a name or id)',
        bad,
      );
});

/** rsync's --chmod: comma-separated rules such as D2775,F664 or Dg+s,ug+w,o-w. */
export const chmodRules = makeExactValidator<readonly string[]>((input) => {
  const items = input
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const bad = items.find((item) => !/^[DF]?(?:[0-7]{3,4}|[ugoa]*[-+=][rwxXst]*)$/.test(item));
  return bad === undefined
    ? Object.freeze(items)
    : fail(
        'rsync --chmod rules such as D2775,F664 or Dg+s,ug+w,o-w (D: directories only, F: files only)',
        bad,
      );
});
