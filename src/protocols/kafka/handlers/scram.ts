/**
 * DescribeUserScramCredentials 0 and AlterUserScramCredentials 0 (KIP-554) over the broker's one user
 * store: the SCRAM credentials a password set through any front end made, or ones a Kafka tool sends
 * as salt and SaltedPassword (kafka-configs --alter --add-config 'SCRAM-SHA-256=[password=…]'). An
 * upsertion for a user that does not exist creates it with that credential alone (no password, no
 * tags, no permissions), as Kafka creates SCRAM users. Both need the `administrator` tag: anyone else
 * gets CLUSTER_AUTHORIZATION_FAILED, decided by core's permission checks.
 */
import type { CoreClient } from '../../../core/api.js';
import {
  credentialFromSalted,
  type ScramCredentials,
  type ScramMechanism,
  scramIterationsMax,
  scramIterationsMin,
} from '../../../core/scram.js';
import { ErrorCode, isBrokerError } from '../../../shared/errors.js';
import {
  type AlterUserScramCredentialsRequest,
  type AlterUserScramCredentialsResponse,
  ApiKey,
  type DescribeUserScramCredentialsRequest,
  type DescribeUserScramCredentialsResponse,
  type KafkaInput,
} from '../codec/index.js';
import type { ApiHandler, RequestContext } from '../context.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';

/** Kafka's ScramMechanism type codes. */
const mechanismCodes: ReadonlyMap<number, ScramMechanism> = new Map([
  [1, 'SCRAM-SHA-256'],
  [2, 'SCRAM-SHA-512'],
]);
const codeOf = (mechanism: ScramMechanism): number => (mechanism === 'SCRAM-SHA-256' ? 1 : 2);

const clusterRefused = 'Cluster authorization failed: it needs the administrator tag';

/** The credentials of `user`, or null when the caller may not know (not an administrator). */
function credentialsOf(client: CoreClient, user: string): ScramCredentials | undefined | null {
  try {
    return client.scramCredentials(user);
  } catch (err) {
    if (isBrokerError(err, ErrorCode.accessRefused)) return null;
    throw err;
  }
}

function infos(credentials: ScramCredentials): Array<{ mechanism: number; iterations: number }> {
  return Object.entries(credentials).map(([mechanism, c]) => ({
    mechanism: codeOf(mechanism as ScramMechanism),
    iterations: c.iterations,
  }));
}

export const describeUserScramCredentialsHandler: ApiHandler = {
  apiKey: ApiKey.DescribeUserScramCredentials,
  versionMin: 0,
  versionMax: 0,
  handle(
    ctx: RequestContext,
    request: DescribeUserScramCredentialsRequest,
  ): KafkaInput<DescribeUserScramCredentialsResponse> {
    const { client } = ctx;
    if (credentialsOf(client, '') === null)
      return { errorCode: KafkaError.clusterAuthorizationFailed, errorMessage: clusterRefused, results: [] };
    const asked = request.users ?? [];
    if (asked.length === 0) {
      const results = client
        .userNames()
        .map((user) => ({ user, credentials: client.scramCredentials(user) ?? {} }))
        .filter((u) => Object.keys(u.credentials).length > 0)
        .map((u) => ({
          user: u.user,
          errorCode: 0,
          errorMessage: null,
          credentialInfos: infos(u.credentials),
        }));
      return { errorCode: 0, errorMessage: null, results };
    }
    const seen = new Map<string, number>();
    for (const { name } of asked) seen.set(name, (seen.get(name) ?? 0) + 1);
    const results = [...seen].map(([user, count]) => {
      if (count > 1) {
        const errorMessage = 'Cannot describe SCRAM credentials for the same user twice in a single request';
        return { user, errorCode: KafkaError.duplicateResource, errorMessage, credentialInfos: [] };
      }
      const credentials = client.scramCredentials(user) ?? {};
      if (Object.keys(credentials).length === 0) {
        const errorMessage = 'Attempt to describe nonexistent user credentials';
        return { user, errorCode: KafkaError.resourceNotFound, errorMessage, credentialInfos: [] };
      }
      return { user, errorCode: 0, errorMessage: null, credentialInfos: infos(credentials) };
    });
    return { errorCode: 0, errorMessage: null, results };
  },
};

type Change =
  | { readonly kind: 'delete'; readonly name: string; readonly mechanism: number }
  | {
      readonly kind: 'upsert';
      readonly name: string;
      readonly mechanism: number;
      readonly iterations: number;
      readonly salt: Uint8Array;
      readonly saltedPassword: Uint8Array;
    };

interface Refusal {
  readonly errorCode: number;
  readonly errorMessage: string;
}

/** Why a change cannot be made, in Kafka's words; undefined when it can. */
function refusalOf(change: Change, current: ScramCredentials | undefined): Refusal | undefined {
  if (change.name === '')
    return { errorCode: KafkaError.unacceptableCredential, errorMessage: 'Username must not be empty' };
  const mechanism = mechanismCodes.get(change.mechanism);
  if (mechanism === undefined)
    return { errorCode: KafkaError.unsupportedSaslMechanism, errorMessage: 'Unknown SCRAM mechanism' };
  if (change.kind === 'delete') {
    if (current?.[mechanism] !== undefined) return undefined;
    const errorMessage = 'Attempt to delete a user credential that does not exist';
    return { errorCode: KafkaError.resourceNotFound, errorMessage };
  }
  if (change.iterations < scramIterationsMin)
    return { errorCode: KafkaError.unacceptableCredential, errorMessage: 'Too few iterations' };
  if (change.iterations > scramIterationsMax)
    return { errorCode: KafkaError.unacceptableCredential, errorMessage: 'Too many iterations' };
  if (change.salt.length === 0 || change.saltedPassword.length === 0) {
    const errorMessage = 'Salt and salted password must not be empty';
    return { errorCode: KafkaError.unacceptableCredential, errorMessage };
  }
  return undefined;
}

/** Every change of one user is made, or (one refused) none. */
async function alterUser(
  client: CoreClient,
  user: string,
  changes: readonly Change[],
): Promise<Refusal | undefined> {
  const current = credentialsOf(client, user);
  if (current === null)
    return { errorCode: KafkaError.clusterAuthorizationFailed, errorMessage: clusterRefused };
  const pairs = new Set<number>();
  for (const change of changes) {
    if (pairs.has(change.mechanism)) {
      const errorMessage = 'A user credential cannot be altered twice in the same request';
      return { errorCode: KafkaError.duplicateResource, errorMessage };
    }
    pairs.add(change.mechanism);
    const refusal = refusalOf(change, current);
    if (refusal !== undefined) return refusal;
  }
  try {
    for (const change of changes) {
      const mechanism = mechanismCodes.get(change.mechanism)!;
      const credential =
        change.kind === 'delete'
          ? null
          : credentialFromSalted(mechanism, change.saltedPassword, change.salt, change.iterations);
      await client.setScramCredential(user, mechanism, credential);
    }
    return undefined;
  } catch (err) {
    return { errorCode: kafkaErrorOf(err), errorMessage: (err as Error).message };
  }
}

export const alterUserScramCredentialsHandler: ApiHandler = {
  apiKey: ApiKey.AlterUserScramCredentials,
  versionMin: 0,
  versionMax: 0,
  async handle(
    ctx: RequestContext,
    request: AlterUserScramCredentialsRequest,
  ): Promise<KafkaInput<AlterUserScramCredentialsResponse>> {
    const byUser = new Map<string, Change[]>();
    const add = (change: Change) => byUser.set(change.name, [...(byUser.get(change.name) ?? []), change]);
    for (const d of request.deletions) add({ kind: 'delete', name: d.name, mechanism: d.mechanism });
    for (const u of request.upsertions) add({ kind: 'upsert', ...u });
    const results = [];
    for (const [user, changes] of byUser) {
      const refusal = await alterUser(ctx.client, user, changes);
      results.push({ user, errorCode: refusal?.errorCode ?? 0, errorMessage: refusal?.errorMessage ?? null });
    }
    return { results };
  },
};
