/**
 * Whether two JSON values are the same, for the mime renderer to tell a new record from the one it drew (mime.ts).
 * No DOM here, so `node --test` runs it as it is.
 *
 * It is asked on every update of a streaming reply, about ten times a second, and each update brings the whole
 * record again with its text a little longer: serializing both to compare them cost time in proportion to the
 * transcript, on every update. Instead a first pass compares strings of different lengths by their lengths alone
 * (the same string object, or equal strings, pass at once), which a grown text fails without its characters being
 * read; only records alike in all of that (the same record drawn again, an edit that kept every length) are
 * compared in full.
 */

export function sameJson(a: unknown, b: unknown): boolean {
  return sameShape(a, b, false) && sameShape(a, b, true);
}

type Json = Record<string, unknown>;

/** `a` and `b` alike, their strings by length only unless `characters`. A loop, not recursion: a forged record
 * nested a hundred thousand deep would overflow the stack. Objects match whatever the order of their keys. */
function sameShape(a: unknown, b: unknown, characters: boolean): boolean {
  const pending: [unknown, unknown][] = [[a, b]];
  while (pending.length) {
    const [x, y] = pending.pop()!;
    if (x === y) {
      continue;
    }
    if (typeof x === 'string' && typeof y === 'string') {
      if (x.length !== y.length || characters) {
        return false; // `x === y` said they differ
      }
      continue;
    }
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) {
      return false;
    }
    if (Array.isArray(x) !== Array.isArray(y)) {
      return false;
    }
    const keys = Object.keys(x);
    if (keys.length !== Object.keys(y).length) {
      return false;
    }
    for (const key of keys) {
      if (!Object.prototype.hasOwnProperty.call(y, key)) {
        return false;
      }
      pending.push([(x as Json)[key], (y as Json)[key]]);
    }
  }
  return true;
}
