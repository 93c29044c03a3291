/**
 * Secrets Manager's staging-label rules and Parameter Store's version numbering in
 * memory, behind the store's narrow client interfaces, with hooks to interleave calls and
 * to lose answers, a log of every call with the secret or parameter it named, and a log of
 * every version created (with the time of a clock the caller may fake) for budget counts.
 * It is never the proof that the adapter talks to AWS correctly (the moto suite is).
 */
import type {
  BatchGetSecretValueCommandInput,
  CreateSecretCommandInput,
  DeleteSecretCommandInput,
  DescribeSecretCommandInput,
  GetSecretValueCommandInput,
  ListSecretsCommandInput,
  PutSecretValueCommandInput,
  UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import type {
  DeleteParameterCommandInput,
  GetParameterCommandInput,
  GetParametersByPathCommandInput,
  PutParameterCommandInput,
} from '@aws-sdk/client-ssm';
import type { ParameterStoreApi, SecretsManagerApi } from '../../src/stores/aws/client.js';

export type Call = keyof SecretsManagerApi;
export type ParameterCall = keyof ParameterStoreApi;

/** One call as the fake received it: the operation and the secret or parameter it named first. */
export interface Request<C extends string> {
  readonly call: C;
  readonly name: string;
}

/** The most secrets one `BatchGetSecretValue` names (`SecretIdList`). */
export const BATCH_GET_LIMIT = 20;

/** A secret's version in the fake: its value, its staging labels and when it was created. */
export interface FakeVersion {
  body: string;
  stages: string[];
  /** Epoch ms by the fake's clock; absent for a version a test placed by hand. */
  createdAt?: number;
}

export function serviceError(name: string): Error {
  return Object.assign(new Error(`${name} from the fake`), { name });
}

/** Secrets Manager's staging-label rules in memory, with hooks to interleave and to lose answers. */
export class FakeSecretsManager implements SecretsManagerApi {
  readonly secrets = new Map<
    string,
    { versions: Map<string, FakeVersion>; tags: { Key: string; Value: string }[]; kmsKeyId?: string }
  >();
  readonly calls: Call[] = [];
  /** Every call with the secret it named (the first of a batch), in order. */
  readonly requests: Request<Call>[] = [];
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

  async #enter(call: Call, name: string | undefined): Promise<void> {
    this.calls.push(call);
    this.requests.push({ call, name: name ?? '' });
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
    await this.#enter('getSecretValue', input.SecretId);
    const secret = this.#secret(input.SecretId);
    const stage = input.VersionStage ?? 'AWSCURRENT';
    const found = [...secret.versions].find(([, v]) => v.stages.includes(stage));
    if (!found) throw serviceError('ResourceNotFoundException');
    return this.#leave('getSecretValue', {
      VersionId: found[0],
      SecretString: found[1].body,
      ...createdDate(found[1]),
    });
  }

  async batchGetSecretValue(input: BatchGetSecretValueCommandInput) {
    await this.#enter('batchGetSecretValue', input.SecretIdList?.[0]);
    // AWS refuses a longer list; a ring read must stay within one call's reach.
    if ((input.SecretIdList?.length ?? 0) > BATCH_GET_LIMIT) throw serviceError('InvalidParameterException');
    const SecretValues: { Name: string; VersionId: string; SecretString: string; CreatedDate?: Date }[] = [];
    const Errors: { SecretId: string; ErrorCode: string }[] = [];
    for (const name of input.SecretIdList ?? []) {
      const found = [...(this.secrets.get(name)?.versions ?? [])].find(([, v]) => v.stages.includes('AWSCURRENT'));
      if (found)
        SecretValues.push({ Name: name, VersionId: found[0], SecretString: found[1].body, ...createdDate(found[1]) });
      else Errors.push({ SecretId: name, ErrorCode: 'ResourceNotFoundException' });
    }
    return this.#leave('batchGetSecretValue', { SecretValues, Errors });
  }

  async deleteSecret(input: DeleteSecretCommandInput) {
    await this.#enter('deleteSecret', input.SecretId);
    this.#secret(input.SecretId);
    this.secrets.delete(input.SecretId!);
    return this.#leave('deleteSecret', {});
  }

  async describeSecret(input: DescribeSecretCommandInput) {
    await this.#enter('describeSecret', input.SecretId);
    const secret = this.#secret(input.SecretId);
    return this.#leave('describeSecret', {
      VersionIdsToStages: Object.fromEntries([...secret.versions].map(([id, v]) => [id, [...v.stages]])),
    });
  }

  async createSecret(input: CreateSecretCommandInput) {
    await this.#enter('createSecret', input.Name);
    const name = input.Name!;
    const id = input.ClientRequestToken ?? `v${++this.#next}`;
    const existing = this.secrets.get(name);
    if (existing) {
      if (existing.versions.get(id)?.body === input.SecretString) return this.#leave('createSecret', { VersionId: id });
      throw serviceError('ResourceExistsException');
    }
    const at = this.clock();
    this.created.push({ name, at });
    this.secrets.set(name, {
      versions: new Map([[id, { body: input.SecretString!, stages: ['AWSCURRENT'], createdAt: at }]]),
      tags: (input.Tags ?? []).map((t) => ({ Key: t.Key!, Value: t.Value! })),
      ...(input.KmsKeyId === undefined ? {} : { kmsKeyId: input.KmsKeyId }),
    });
    return this.#leave('createSecret', { VersionId: id });
  }

  async putSecretValue(input: PutSecretValueCommandInput) {
    await this.#enter('putSecretValue', input.SecretId);
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
    const at = this.clock();
    secret.versions.set(id, { body: input.SecretString!, stages: [...stages], createdAt: at });
    this.created.push({ name: input.SecretId!, at });
    return this.#leave('putSecretValue', { VersionId: id });
  }

  async updateSecretVersionStage(input: UpdateSecretVersionStageCommandInput) {
    await this.#enter('updateSecretVersionStage', input.SecretId);
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
    const prefix = input.Filters?.[0]?.Values?.[0] ?? '';
    await this.#enter('listSecrets', prefix);
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

/**
 * Parameter Store's version numbering in memory: every put is the next version (SSM keeps
 * the last 100; only the latest matters here), tags set on creation only as SSM demands,
 * hooks to interleave calls and to lose answers, and a log of every put for budget counts.
 */
export class FakeParameterStore implements ParameterStoreApi {
  readonly parameters = new Map<
    string,
    { version: number; value: string; type: string; keyId?: string; tags: unknown[]; modifiedAt?: number }
  >();
  readonly calls: ParameterCall[] = [];
  /** Every call with the parameter (or path) it named, in order. */
  readonly requests: Request<ParameterCall>[] = [];
  /** Every version written: which parameter, and when by {@link clock}. */
  readonly written: { name: string; at: number }[] = [];
  /** Runs before the named call is applied (another writer's turn). */
  readonly before = new Map<ParameterCall, () => Promise<void>>();
  /** The named call is applied, then its answer is lost. */
  readonly loseAnswer = new Set<ParameterCall>();
  /** The named call fails before being applied. */
  readonly fail = new Map<ParameterCall, Error>();
  clock: () => number = Date.now;
  destroyed = 0;

  async #enter(call: ParameterCall, name: string | undefined): Promise<void> {
    this.calls.push(call);
    this.requests.push({ call, name: name ?? '' });
    const hook = this.before.get(call);
    this.before.delete(call);
    await hook?.();
    const failure = this.fail.get(call);
    if (failure) {
      this.fail.delete(call);
      throw failure;
    }
  }

  #leave<T>(call: ParameterCall, result: T): T {
    if (this.loseAnswer.delete(call)) throw serviceError('TimeoutError');
    return result;
  }

  async getParameter(input: GetParameterCommandInput) {
    await this.#enter('getParameter', input.Name);
    const found = this.parameters.get(input.Name!);
    if (!found) throw serviceError('ParameterNotFound');
    return this.#leave('getParameter', {
      Parameter: {
        Value: found.value,
        Version: found.version,
        ...(found.modifiedAt === undefined ? {} : { LastModifiedDate: new Date(found.modifiedAt) }),
      },
    });
  }

  async putParameter(input: PutParameterCommandInput) {
    await this.#enter('putParameter', input.Name);
    const name = input.Name!;
    const existing = this.parameters.get(name);
    if (existing && !input.Overwrite) throw serviceError('ParameterAlreadyExists');
    if (input.Overwrite && input.Tags) throw serviceError('ValidationException');
    const version = (existing?.version ?? 0) + 1;
    const at = this.clock();
    const keyId = input.KeyId ?? existing?.keyId;
    this.parameters.set(name, {
      version,
      value: input.Value!,
      type: input.Type ?? existing?.type ?? 'String',
      ...(keyId === undefined ? {} : { keyId }),
      tags: input.Tags ?? existing?.tags ?? [],
      modifiedAt: at,
    });
    this.written.push({ name, at });
    return this.#leave('putParameter', { Version: version });
  }

  async deleteParameter(input: DeleteParameterCommandInput) {
    await this.#enter('deleteParameter', input.Name);
    if (!this.parameters.delete(input.Name!)) throw serviceError('ParameterNotFound');
    return this.#leave('deleteParameter', {});
  }

  async getParametersByPath(input: GetParametersByPathCommandInput) {
    await this.#enter('getParametersByPath', input.Path);
    const path = input.Path === '/' ? '/' : `${input.Path}/`;
    return this.#leave('getParametersByPath', {
      Parameters: [...this.parameters.keys()].filter((n) => n.startsWith(path)).map((Name) => ({ Name })),
    });
  }

  destroy(): void {
    this.destroyed++;
  }
}

function createdDate(version: FakeVersion): { CreatedDate?: Date } {
  return version.createdAt === undefined ? {} : { CreatedDate: new Date(version.createdAt) };
}
