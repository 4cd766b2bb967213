/**
 * A small typed event emitter that runs in browsers and Node alike (no
 * `node:events`). A listener that throws does not stop the others or the
 * client: its error is rethrown on a fresh task, where the page's
 * `error` handler or Node's `uncaughtException` sees it.
 */
export type Listener<A extends unknown[]> = (...args: A) => void

export class Emitter<E extends { [K in keyof E]: unknown[] }> {
  readonly #listeners = new Map<keyof E, Array<(...args: never[]) => void>>()

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E> (name: K, listener: Listener<E[K]>): () => void {
    const list = this.#listeners.get(name) ?? []
    list.push(listener as unknown as (...args: never[]) => void)
    this.#listeners.set(name, list)
    return () => this.off(name, listener)
  }

  once<K extends keyof E> (name: K, listener: Listener<E[K]>): () => void {
    const off = this.on(name, ((...args: E[K]) => {
      off()
      listener(...args)
    }) as Listener<E[K]>)
    return off
  }

  off<K extends keyof E> (name: K, listener: Listener<E[K]>): void {
    const list = this.#listeners.get(name)
    if (list === undefined) return
    const i = list.indexOf(listener as unknown as (...args: never[]) => void)
    if (i !== -1) list.splice(i, 1)
    if (list.length === 0) this.#listeners.delete(name)
  }

  listenerCount (name: keyof E): number {
    return this.#listeners.get(name)?.length ?? 0
  }

  protected emit<K extends keyof E> (name: K, ...args: E[K]): void {
    const list = this.#listeners.get(name)
    if (list === undefined) return
    // A copy: a listener may remove itself or others.
    for (const listener of [...list]) {
      try {
        (listener as unknown as Listener<E[K]>)(...args)
      } catch (err) {
        setTimeout(() => { throw err }, 0)
      }
    }
  }
}
