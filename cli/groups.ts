/**
 * `switchyard group describe | reset-offsets`: Kafka consumer groups through the broker's
 * `/api/kafka/groups` extension. reset-offsets follows kafka-consumer-groups.sh: it only shows the new
 * offsets unless `--execute` is given, and the broker refuses (409, exit 6) while the group has members.
 */

import { call, enc, type Target, UsageError } from './client.js';
import type { Answer } from './manage.js';

export interface GroupOptions {
  readonly 'to-earliest'?: boolean | undefined;
  readonly 'to-latest'?: boolean | undefined;
  readonly 'to-datetime'?: string | undefined;
  readonly 'shift-by'?: string | undefined;
  readonly topic?: string[] | undefined;
  readonly execute?: boolean | undefined;
  readonly 'dry-run'?: boolean | undefined;
}

function resetBody(o: GroupOptions): Record<string, unknown> {
  const chosen = [
    o['to-earliest'] ? { to: 'earliest' } : undefined,
    o['to-latest'] ? { to: 'latest' } : undefined,
    o['to-datetime'] === undefined ? undefined : { to: 'datetime', datetime: o['to-datetime'] },
    o['shift-by'] === undefined ? undefined : { to: 'shift', shift_by: Number(o['shift-by']) },
  ].filter((x) => x !== undefined);
  if (chosen.length !== 1)
    throw new UsageError('give one of --to-earliest, --to-latest, --to-datetime ISO, --shift-by N');
  const body: Record<string, unknown> = { ...chosen[0] };
  if (body['to'] === 'shift' && !Number.isInteger(body['shift_by']))
    throw new UsageError(`--shift-by must be an integer, not ${o['shift-by']}`);
  if (body['to'] === 'datetime' && Number.isNaN(Date.parse(String(body['datetime']))))
    throw new UsageError(`--to-datetime must be an ISO date and time, not ${o['to-datetime']}`);
  if (o.execute && o['dry-run']) throw new UsageError('give --execute or --dry-run, not both');
  if (o.topic !== undefined) body['topics'] = o.topic;
  body['dry_run'] = o.execute !== true;
  return body;
}

export async function group(target: Target, [action, id]: string[], o: GroupOptions): Promise<Answer> {
  if (id === undefined) throw new UsageError('expected group describe|reset-offsets <group>');
  const path = `/api/kafka/groups/${enc(id)}`;
  if (action === 'describe') {
    const answer = (await call(target, 'GET', path)) as { offsets?: Record<string, unknown>[] };
    return {
      rows: answer.offsets ?? [],
      columns: ['topic', 'partition', 'committed_offset', 'end_offset', 'lag'],
      document: answer,
    };
  }
  if (action !== 'reset-offsets') throw new UsageError(`unknown group action ${JSON.stringify(action)}`);
  const body = resetBody(o);
  const answer = (await call(target, 'POST', `${path}/reset-offsets`, body)) as {
    offsets?: Record<string, unknown>[];
  };
  return {
    rows: answer.offsets ?? [],
    columns: ['topic', 'partition', 'current_offset', 'new_offset'],
    document: answer,
    ...(body['dry_run'] === true ? { note: 'Dry run: nothing changed; add --execute to apply.' } : {}),
  };
}
