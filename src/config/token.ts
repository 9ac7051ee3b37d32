// SYNC_CONTROL_TOKEN and SYNC_CONTROL_TOKEN_FILE: the bearer token of the network control
// endpoints. Its value never appears in a message.

/** SYNC_CONTROL_TOKEN(_FILE), as far as it can be checked without reading the file. */
export function controlTokenOf(
  token: string | undefined,
  file: string | undefined,
  healthPort: number,
): { token?: string | undefined; file?: string | undefined; problem?: string } {
  const given = token !== undefined && token !== '' ? token : undefined;
  const path = file !== undefined && file.trim() !== '' ? file : undefined;
  if (given !== undefined && path !== undefined)
    return {
      problem:
        'SYNC_CONTROL_TOKEN and SYNC_CONTROL_TOKEN_FILE are both set: keep the file (a Secret) and remove SYNC_CONTROL_TOKEN.',
    };
  if ((given !== undefined || path !== undefined) && healthPort === 0)
    return {
      problem: `${given === undefined ? 'SYNC_CONTROL_TOKEN_FILE' : 'SYNC_CONTROL_TOKEN'} turns on POST /sync, /pause and /resume on the health port, but SYNC_HEALTH_PORT=0 turns that port off: set a port, or remove the token.`,
    };
  const problem = given === undefined ? undefined : tokenProblem('SYNC_CONTROL_TOKEN', given);
  return problem === undefined ? { token: given, file: path } : { problem };
}

/** What is wrong with a control token, if anything; never quotes it. */
export function tokenProblem(name: string, token: string): string | undefined {
  if (/\s/.test(token))
    return `${name}: the token holds white space; use letters and digits only (openssl rand -hex 32).`;
  if (token.length < 16)
    return `${name}: the token has ${token.length} characters, too few to resist guessing; use at least 16 (openssl rand -hex 32).`;
  return undefined;
}
