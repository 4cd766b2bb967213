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
