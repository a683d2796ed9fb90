import { pino, type Logger } from 'pino';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

/**
 * Logs a person can read on a terminal (pino-pretty), JSON lines elsewhere or with SBX_LOG_FORMAT=json.
 * Commands whose stdout is their answer log to stderr (`toStderr`).
 */
export function createLogger(name: string, { toStderr = false } = {}): Logger {
  const fd = toStderr ? 2 : 1;
  const pretty = (toStderr ? process.stderr : process.stdout).isTTY && process.env.SBX_LOG_FORMAT !== 'json';
  const options = {
    name,
    level: process.env.SBX_LOG_LEVEL ?? 'info',
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l', destination: fd } } }
      : {}),
  };
  return pretty ? pino(options) : pino(options, pino.destination(fd));
}

let installed = false;

/** Routes the Temporal SDK's own logs (worker state, workflow `log`) through pino, warnings and up. */
export function installTemporalLogging(logger: Logger): void {
  if (installed) return;
  installed = true;
  const level = (process.env.SBX_TEMPORAL_LOG_LEVEL ?? 'WARN') as LogLevel;
  // The SDK's runtime is process-wide and can be installed once; a test harness may have done it.
  if (Runtime._instance) return;
  Runtime.install({
    // The sbx commands stop their own workers on SIGINT/SIGTERM (onStopSignal), after work that
    // needs them running (sbx dev hibernates its sessions first); the SDK must not stop them earlier.
    shutdownSignals: [],
    logger: new DefaultLogger(level, ({ level: lvl, message, meta }) => {
      const method = lvl === 'ERROR' ? 'error' : lvl === 'WARN' ? 'warn' : lvl === 'INFO' ? 'info' : 'debug';
      logger[method](meta ?? {}, message);
    }),
  });
}
