import { ExitCode } from '../errors.ts';
import { type DaemonStatus, formatStatus, isHealthy } from '../status/status.ts';

// `filesync status`: asks the daemon running with the same settings (SYNC_HEALTH_PORT) how it
// is doing, for `docker exec` and `kubectl exec`. 0 healthy, 1 not, 2 no daemon answered.

const ASK_TIMEOUT_MS = 5000;

export async function statusCommand(
  healthPort: number,
  { json, out, err }: { json: boolean; out: (line: string) => void; err: (line: string) => void },
): Promise<ExitCode> {
  if (healthPort === 0) {
    err(
      'filesync status asks the daemon on SYNC_HEALTH_PORT, which is 0 (off) here: set the port the daemon uses.',
    );
    return ExitCode.notCompared;
  }
  const url = `http://127.0.0.1:${healthPort}/status`;
  let status: DaemonStatus;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    status = (await response.json()) as DaemonStatus;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    err(
      `no filesync daemon answered at ${url} (${cause}): is \`filesync watch\` running here, with the same SYNC_HEALTH_PORT?`,
    );
    return ExitCode.notCompared;
  }
  if (json) out(JSON.stringify(status, null, 2));
  else for (const line of formatStatus(status)) out(line);
  return isHealthy(status) ? ExitCode.ok : ExitCode.failure;
}
