/**
 * Ids for machines and supervisors, unique among both in this process, so that a diagnostics
 * message's `{ name, id }` names exactly one of them.
 *
 * @module
 */
let last = 0;

/** The next id: 1, 2, 3, … */
export function nextProcessId(): number {
  return ++last;
}
