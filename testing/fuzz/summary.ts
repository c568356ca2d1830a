/** A fuzzing run's report as text: counts, failures with their replay commands, warnings by message. */
import type { FuzzReport } from './fuzzer.js';

export function summary(report: FuzzReport): string {
  const lines = [
    `${report.protocol}: seed ${report.seed}, ${report.casesRun} cases in ${(report.durationMs / 1000).toFixed(1)} s` +
      ` (${Math.round(report.casesRun / (report.durationMs / 1000))}/s), ${report.roundTrips} round trips,` +
      ` RSS max ${Math.round(report.rssMaxBytes / 2 ** 20)} MiB, broker CPU ${(report.brokerCpuMs / 1000).toFixed(1)} s`,
    `  answered ${report.answered}, closed by the broker ${report.closedByBroker}, still open ${report.lingered}, connection refused ${report.refused}`,
    `  failures: ${report.failures.length}`,
  ];
  for (const f of report.failures) {
    lines.push(
      `  - cases ${f.from}-${f.to - 1}${f.caseIndex === undefined ? '' : `, case ${f.caseIndex}`}: ${f.reason}`,
    );
    lines.push(
      `    replay: npm run fuzz -- ${report.protocol} --seed ${f.seed} ${f.caseIndex === undefined ? `--first ${f.from} --cases ${f.to - f.from}` : `--case ${f.caseIndex}`}`,
    );
    if (f.aloneReason !== undefined) lines.push(`    alone: ${f.aloneReason}`);
    if (f.steps !== undefined) lines.push(`    steps: ${f.steps.join('; ')}`);
  }
  for (const [message, seen] of [...report.warnings].sort((a, b) => b[1].count - a[1].count)) {
    lines.push(
      `  warn ×${seen.count} "${message}"${seen.samples.length > 0 ? `: ${seen.samples.join(' | ')}` : ''}`,
    );
  }
  return lines.join('\n');
}
