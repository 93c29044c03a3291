/**
 * Secrets Manager's staging-label rules in memory, behind the store's narrow client
 * interface, with hooks to interleave calls and to lose answers, and a log of every
 * version created (with the time of a clock the caller may fake) for budget counts. It
 * is never the proof that the adapter talks to AWS correctly (the moto suite is).
 */
import type {
  CreateSecretCommandInput,
  DescribeSecretCommandInput,
  GetSecretValueCommandInput,
  ListSecretsCommandInput,
  PutSecretValueCommandInput,
  UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerApi } from '../../src/stores/aws/client.js';

export type Call = keyof SecretsManagerApi;

export function serviceError(name: string): Error {
  return Object.assign(new Error(`${name} from the fake`), { name });
}

/** Secrets Manager's staging-label rules in memory, with hooks to interleave and to lose answers. */
export class FakeSecretsManager implements SecretsManagerApi {
  readonly secrets = new Map<
    string,
    { versions: Map<string, { body: string; stages: string[] }>; tags: { Key: string; Value: string }[] }
  >();
  readonly calls: Call[] = [];
  /** Runs before the named call is applied (another writer's turn). */
  readonly before = new Map<Call, () => Promise<void>>();
  /** The named call is applied, then its answer is lost. */
  readonly loseAnswer = new Set<Call>();
  /** The named call fails before being applied. */
  readonly fail = new Map<Call, Error>();
  /** Every version created: which secret, and when by {@link clock}. */
  readonly created: { name: string; at: number }[] = [];
  /** The time versions are stamped with; a simulation replaces it. */
  clock: () => number = Date.now;
  pageSize = 100;
  destroyed = 0;
  #next = 0;

  async #enter(call: Call): Promise<void> {
    this.calls.push(call);
    const hook = this.before.get(call);
    this.before.delete(call);
    await hook?.();
    const failure = this.fail.get(call);
    if (failure) {
      this.fail.delete(call);
      throw failure;
    }
  }

  #leave<T>(call: Call, result: T): T {
    if (this.loseAnswer.delete(call)) throw serviceError('TimeoutError');
    return result;
  }

  #secret(name: string | undefined) {
    const secret = this.secrets.get(name ?? '');
    if (!secret) throw serviceError('ResourceNotFoundException');
    return secret;
  }

  current(name: string): string | undefined {
    return [...(this.secrets.get(name)?.versions ?? [])].find(([, v]) => v.stages.includes('AWSCURRENT'))?.[0];
  }

  async getSecretValue(input: GetSecretValueCommandInput) {
    await this.#enter('getSecretValue');
    const secret = this.#secret(input.SecretId);
    const stage = input.VersionStage ?? 'AWSCURRENT';
    const found = [...secret.versions].find(([, v]) => v.stages.includes(stage));
    if (!found) throw serviceError('ResourceNotFoundException');
    return this.#leave('getSecretValue', { VersionId: found[0], SecretString: found[1].body });
  }

  async describeSecret(input: DescribeSecretCommandInput) {
    await this.#enter('describeSecret');
    const secret = this.#secret(input.SecretId);
    return this.#leave('describeSecret', {
      VersionIdsToStages: Object.fromEntries([...secret.versions].map(([id, v]) => [id, [...v.stages]])),
    });
  }

  async createSecret(input: CreateSecretCommandInput) {
    await this.#enter('createSecret');
    const name = input.Name!;
    const id = input.ClientRequestToken ?? `v${++this.#next}`;
    const existing = this.secrets.get(name);
    if (existing) {
      if (existing.versions.get(id)?.body === input.SecretString) return this.#leave('createSecret', { VersionId: id });
      throw serviceError('ResourceExistsException');
    }
    this.created.push({ name, at: this.clock() });
    this.secrets.set(name, {
      versions: new Map([[id, { body: input.SecretString!, stages: ['AWSCURRENT'] }]]),
      tags: (input.Tags ?? []).map((t) => ({ Key: t.Key!, Value: t.Value! })),
    });
    return this.#leave('createSecret', { VersionId: id });
  }

  async putSecretValue(input: PutSecretValueCommandInput) {
    await this.#enter('putSecretValue');
    const secret = this.#secret(input.SecretId);
    const id = input.ClientRequestToken ?? `v${++this.#next}`;
    const existing = secret.versions.get(id);
    if (existing) {
      if (existing.body !== input.SecretString) throw serviceError('ResourceExistsException');
      return this.#leave('putSecretValue', { VersionId: id });
    }
    const stages = input.VersionStages ?? ['AWSCURRENT'];
    // A label lives on one version at a time: attaching it elsewhere detaches it here.
    for (const version of secret.versions.values()) version.stages = version.stages.filter((s) => !stages.includes(s));
    secret.versions.set(id, { body: input.SecretString!, stages: [...stages] });
    this.created.push({ name: input.SecretId!, at: this.clock() });
    return this.#leave('putSecretValue', { VersionId: id });
  }

  async updateSecretVersionStage(input: UpdateSecretVersionStageCommandInput) {
    await this.#enter('updateSecretVersionStage');
    const secret = this.#secret(input.SecretId);
    const stage = input.VersionStage!;
    const holder = [...secret.versions].find(([, v]) => v.stages.includes(stage))?.[0];
    if (holder !== undefined && holder !== input.MoveToVersionId && holder !== input.RemoveFromVersionId)
      throw serviceError('InvalidParameterException');
    if (input.RemoveFromVersionId !== undefined && holder !== input.RemoveFromVersionId)
      throw serviceError('InvalidParameterException');
    if (input.MoveToVersionId !== undefined && !secret.versions.has(input.MoveToVersionId))
      throw serviceError('InvalidParameterException');
    if (holder !== undefined) {
      const from = secret.versions.get(holder)!;
      from.stages = from.stages.filter((s) => s !== stage);
      if (stage === 'AWSCURRENT') {
        for (const v of secret.versions.values()) v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
        from.stages.push('AWSPREVIOUS');
      }
    }
    if (input.MoveToVersionId !== undefined) secret.versions.get(input.MoveToVersionId)!.stages.push(stage);
    return this.#leave('updateSecretVersionStage', {});
  }

  async listSecrets(input: ListSecretsCommandInput) {
    await this.#enter('listSecrets');
    const prefix = input.Filters?.[0]?.Values?.[0] ?? '';
    const names = [...this.secrets.keys()].filter((n) => n.startsWith(prefix)).sort();
    const start = Number(input.NextToken ?? 0);
    const page = names.slice(start, start + this.pageSize);
    const more = start + this.pageSize < names.length;
    return this.#leave('listSecrets', {
      SecretList: page.map((Name) => ({ Name })),
      ...(more ? { NextToken: String(start + this.pageSize) } : {}),
    });
  }

  destroy(): void {
    this.destroyed++;
  }
}
