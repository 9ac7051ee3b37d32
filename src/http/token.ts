/**
 * Whether an Authorization header carries `Bearer <token>`. Both sides are hashed first, so the
 * comparison takes the same time whatever the header holds, its length included.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  // Loaded at the first request with a token, not at start (~20 ms of CPU), and not through
  // the ESM facade, which reads every export (webcrypto too).
  const { createHash, timingSafeEqual } = process.getBuiltinModule('node:crypto');
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? '';
  const digest = (text: string) => createHash('sha256').update(text).digest();
  // `&&` after the comparison, not before: an empty header takes as long as a wrong one.
  return timingSafeEqual(digest(given), digest(token)) && given !== '';
}
