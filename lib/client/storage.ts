import type { ClientRun } from './run.js'

/** `sessionStorage`, `localStorage`, or anything with their three methods. */
export interface StorageLike {
  getItem: (key: string) => string | null
  setItem: (key: string, value: string) => void
  removeItem: (key: string) => void
}

export interface SavedRun { runId: string, resumeToken: string, task?: string }

/** A task longer than this is not kept for display. */
const MAX_SAVED_TASK = 2000
const MAX_SAVED_RUNS = 64

/** The runs saved under `key`. Storage is read as untrusted: anything malformed is skipped. */
export function loadRuns (storage: StorageLike, key: string): SavedRun[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(storage.getItem(key) ?? '[]')
  } catch {
    return []
  }
  if (!Array.isArray(parsed)) return []
  const runs: SavedRun[] = []
  for (const item of parsed.slice(0, MAX_SAVED_RUNS)) {
    if (typeof item !== 'object' || item === null) continue
    const { runId, resumeToken, task } = item as Record<string, unknown>
    if (typeof runId !== 'string' || typeof resumeToken !== 'string') continue
    runs.push(typeof task === 'string' ? { runId, resumeToken, task } : { runId, resumeToken })
  }
  return runs
}

/** What to save of a run, or undefined when it cannot be resumed (no resume token yet, or it ended on the server or was detached). */
export function savedRun (run: ClientRun): SavedRun | undefined {
  if (run.resumeToken === undefined || !run.resumable) return undefined
  const entry: SavedRun = { runId: run.runId, resumeToken: run.resumeToken }
  if (typeof run.task === 'string' && run.task.length <= MAX_SAVED_TASK) entry.task = run.task
  return entry
}

/** Storage errors (quota, disabled) are ignored: resume then works within the page only. */
export function saveRuns (storage: StorageLike, key: string, saved: SavedRun[]): void {
  try {
    if (saved.length === 0) storage.removeItem(key)
    else storage.setItem(key, JSON.stringify(saved.slice(-MAX_SAVED_RUNS)))
  } catch {}
}
