// The oldest Node filesync runs on (package.json "engines"), checked by the entry point before
// anything else loads: on an older Node the first sign would otherwise be a TypeError deep in a
// dependency.

export const MINIMUM_NODE = [22, 12] as const;

/** The refusal for a Node older than MINIMUM_NODE; undefined when `version` (e.g. "v20.1.0") will do. */
export function nodeTooOld(version: string): string | undefined {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  const [needMajor, needMinor] = MINIMUM_NODE;
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined;
  return `filesync needs Node.js ${needMajor}.${needMinor} or newer (Node 24 LTS is what it is tested on); this is Node ${version}. Use the container image, or install a newer Node.`;
}
