import type { Config } from '../config/config.ts';
import { describeTarget } from '../config/targets.ts';
import { ExitCode } from '../errors.ts';
import { Filter } from '../filter.ts';
import { planTypeCheck, planVerify } from '../plan/dry-runs.ts';
import type { FailedPath } from '../rsync/failed-paths.ts';
import type { Itemized } from '../rsync/itemize.ts';
import type { Outcome } from '../rsync/outcome.ts';
import { processRunner } from '../rsync/runner.ts';
import { createRuntime } from '../rsync/runtime.ts';
import { jsonReport, textReport, typeCandidates, withTypeChanges } from '../verify/report.ts';

// `filesync verify`: compares the source with the mirror and changes nothing. One dry run of
// the full pass says what differs; only when it finds paths new to the target does a second
// dry run over just those tell a changed type from a missing entry. Exit codes as diff's.

export interface VerifyOutput {
  readonly json: boolean;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export async function verifyCommand(
  config: Config,
  stop: Promise<string>,
  output: VerifyOutput,
): Promise<ExitCode> {
  await using runtime = await createRuntime(config);
  const context = { config, filter: new Filter(config.filter), ssh: runtime.ssh };
  const controller = new AbortController();
  void stop.then(() => controller.abort());
  const compared = {
    source: config.sourceDir,
    target: describeTarget(config.remote),
  };

  const first = await processRunner.run(planVerify(context), controller.signal);
  if (!first.ok) return cannotCompare(first, compared, output);
  if ((first.failedPaths ?? []).length > 0)
    return pathsNotCompared(first.failedPaths ?? [], compared, output);
  let itemized: Itemized | undefined = first.itemized;
  const candidates = typeCandidates(itemized?.kinds.missing.paths ?? []);
  if (itemized !== undefined && candidates.length > 0) {
    const second = await processRunner.run(planTypeCheck(candidates, context), controller.signal);
    if (!second.ok) return cannotCompare(second, compared, output);
    const listed = new Set(candidates);
    const typed = (second.itemized?.kinds.missing.paths ?? []).filter((path) => listed.has(path));
    itemized = withTypeChanges(itemized, new Set(typed));
  }
  if (itemized === undefined) throw new Error('a verify plan always itemizes');

  if (output.json) output.out(jsonReport(itemized, compared));
  else for (const line of textReport(itemized, compared)) output.out(line);
  return itemized.total === 0 ? ExitCode.ok : ExitCode.drifted;
}

function pathsNotCompared(failed: readonly FailedPath[], compared: object, output: VerifyOutput): ExitCode {
  const paths = failed.map(({ path, reason }) => ({ path, reason }));
  if (output.json) output.out(JSON.stringify({ status: 'error', ...compared, reason: 'paths', paths }));
  output.err(`filesync verify: could not compare ${failed.length} path(s):`);
  for (const { path, reason } of paths.slice(0, 20)) output.err(`  ${path}: ${reason}`);
  output.err('hint: make them readable by filesync here and by SYNC_REMOTE_USER on the target.');
  return ExitCode.notCompared;
}

function cannotCompare(outcome: Outcome & { ok: false }, compared: object, output: VerifyOutput): ExitCode {
  const { reason, message, hint } = outcome;
  if (output.json) output.out(JSON.stringify({ status: 'error', ...compared, reason, message, hint }));
  output.err(`filesync verify: could not compare (${reason}): ${message}`);
  output.err(`hint: ${hint}`);
  return ExitCode.notCompared;
}
