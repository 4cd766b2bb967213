/**
 * How deep arrays and objects nest in a JSON text, found without parsing it:
 * one pass over the characters, skipping strings. A client frame is checked
 * with this before JSON.parse, so a 9 KiB frame of 1,500 nested brackets is
 * refused before anything builds (or, further down, a Python worker's
 * recursive json.loads chokes on) that many levels.
 *
 * Returns true as soon as the depth goes past `max`. Malformed text is not
 * this function's concern: JSON.parse reports it.
 */
export function nestsDeeperThan (text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--
    }
  }
  return false
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
