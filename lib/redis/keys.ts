/*
 * The names of everything a run keeps in Redis (docs/redis.md, "Keys").
 * `K` is the run's key, made by the gateway: never a client's runId.
 */

export interface RunKeys {
  log: string
  meta: string
  ctl: string
  inputs: string
  readers: string
  alive: string
  far: string
}

export class Keys {
  readonly prefix: string
  readonly requests: string

  constructor (prefix: string) {
    this.prefix = prefix
    this.requests = `${prefix}requests`
  }

  run (key: string): RunKeys {
    const p = `${this.prefix}run:${key}:`
    return { log: `${p}log`, meta: `${p}meta`, ctl: `${p}ctl`, inputs: `${p}inputs`, readers: `${p}readers`, alive: `${p}alive`, far: `${p}far` }
  }

  /** The run of this identity with this runId. */
  owner (identityId: string, runId: string): string {
    return `${this.prefix}owner:${identityId.length}:${identityId}:${runId}`
  }

  /** The runIds of an identity, by start time. */
  owned (identityId: string): string {
    return `${this.prefix}owned:${identityId.length}:${identityId}`
  }

  token (token: string): string {
    return `${this.prefix}token:${token}`
  }

  /**
   * The thread `threadId` of this identity (a hash: docs/redis.md,
   * Threads). Only gateways make thread keys: scripts and hosts take them
   * from KEYS, the run's meta (`thread`) or the record (`index`).
   */
  thread (identityId: string, threadId: string): string {
    return `${this.threadsOf(identityId)}${threadId}`
  }

  /** What every thread key of this identity starts with (a script appends the threadIds it finds in the identity's index). */
  threadsOf (identityId: string): string {
    return `${this.prefix}thread:${identityId.length}:${identityId}:`
  }

  /** The threadIds of an identity by last use (a sorted set): its count and its least recently used. */
  threadIndex (identityId: string): string {
    return `${this.prefix}threads:${identityId.length}:${identityId}`
  }

  host (hostId: string): string {
    return `${this.prefix}host:${hostId}`
  }

  /** A gateway's heartbeat: its readers count only while it lives. */
  gateway (gatewayId: string): string {
    return `${this.prefix}gateway:${gatewayId}`
  }
}

/** The stream id of a seq: `<seq>-1` (seq 0 is `0-1`: ids must be above 0-0). */
export function idOf (seq: number): string {
  return `${seq}-1`
}

/** The seq of a stream id written by idOf. */
export function seqOf (id: string): number {
  return Number(id.slice(0, id.indexOf('-')))
}
