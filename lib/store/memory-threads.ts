import type { ThreadRecord, ThreadStore } from './types.js'

/**
 * Threads in this process's memory: one Map per owner, in the order of
 * use (put() moves a record to the end), so the least recently used is
 * the first. Gone when the process exits.
 */
export class MemoryThreadStore implements ThreadStore {
  readonly #byOwner = new Map<string, Map<string, ThreadRecord>>()
  #size = 0

  get size (): number { return this.#size }

  get (ownerId: string, threadId: string): ThreadRecord | undefined {
    return this.#byOwner.get(ownerId)?.get(threadId)
  }

  put (ownerId: string, record: ThreadRecord): void {
    let mine = this.#byOwner.get(ownerId)
    if (mine === undefined) {
      mine = new Map()
      this.#byOwner.set(ownerId, mine)
    }
    // Deleted first: a Map keeps the first insertion's place.
    if (!mine.delete(record.threadId)) this.#size++
    mine.set(record.threadId, record)
  }

  delete (ownerId: string, threadId: string): boolean {
    const mine = this.#byOwner.get(ownerId)
    if (mine?.delete(threadId) !== true) return false
    this.#size--
    if (mine.size === 0) this.#byOwner.delete(ownerId)
    return true
  }

  list (ownerId: string): ThreadRecord[] {
    return [...(this.#byOwner.get(ownerId)?.values() ?? [])]
  }

  count (ownerId: string): number {
    return this.#byOwner.get(ownerId)?.size ?? 0
  }

  clear (): void {
    this.#byOwner.clear()
    this.#size = 0
  }
}
