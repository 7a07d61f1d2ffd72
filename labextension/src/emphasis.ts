/**
 * Which runs of `*`, `_` and `~` the Python renderer (`glm_nb.render.markdown_cjk`: markdown-it with the CommonMark
 * CJK-friendly amendment, github.com/tats-u/markdown-cjk-friendly) pairs into emphasis and strikethrough. `cjk.ts`
 * asks where a joiner's help depends on it: a `_` run that really closes keeps its end free of one, and a `*` run
 * beside a `~` gets one only if it pairs (marked pairs part of a run it is let open or close where markdown-it
 * pairs none of it: `x**「*~a这`).
 *
 * The pairing is markdown-it's (`rules_inline/balance_pairs.py` and the `emphasis` and `strikethrough` rules it
 * serves), over each block of the text: a paragraph, a heading, a list item or a table row. Code spans and escaped
 * characters hold no runs; links are not told apart (their text pairs with what is around them here).
 */

// The amendment's "CJK character": East Asian Wide, Fullwidth or Halfwidth, emoji aside, and all Hangul; the same
// ranges as the Python side's `_is_cjk` gives over every assigned character of Unicode 14.
export const CJK = new RegExp(
  '[\\u1100-\\u11ff\\u20a9\\u25fd\\u25fe\\u2e80-\\u303e\\u3041-\\u3247\\u3250-\\u4dbf\\u4e00-\\u9fff' +
    '\\ua000-\\ua4cf\\ua960-\\ua97f\\uac00-\\ud7ff\\uf900-\\ufaff\\ufe10-\\ufe19\\ufe30-\\ufe6f\\uff00-\\uffee' +
    '\\u{16fe0}-\\u{18d08}\\u{1aff0}-\\u{1b2ff}\\u{20000}-\\u{3fffd}]',
  'u'
);
export const PUNCTUATION = /[\p{P}\p{S}]/u; // CommonMark's: Unicode punctuation and symbols
export const SPACE = /[\t-\r \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/; // markdown-it's `isWhiteSpace`
// A line whose inline text is not the line before's: blank, a heading, quote, table row, list item or code fence
const BLOCK_START = /^[ \t]*($|[#>|]|[-+*][ \t]|\d{1,9}[.)][ \t]|```|~~~)/;

/** Whether a delimiter run can open and close emphasis. */
interface Flanking {
  readonly opens: boolean;
  readonly closes: boolean;
}

/** A run of `*`, `_` or `~` (indices in code points), how the Python renderer reads it, and what it pairs as. */
export interface Run extends Flanking {
  readonly start: number;
  readonly end: number; // just past its last character
  readonly marker: string;
  opened: boolean; // some of it opens emphasis (or strikethrough) that a later run closes
  closed: boolean; // some of it closes emphasis an earlier run opens
}

/** One paired unit of a run, as markdown-it's delimiter list has it: a character of `*` or `_`, or a `~~`. */
interface Delimiter {
  readonly run: Run;
  readonly length: number; // the run's length, for the rule of three (0 for `~~`: no such rule)
  readonly token: number; // consecutive within a run
  open: boolean;
  close: boolean;
  end: number; // the index of the delimiter closing this one, -1 while none does
}

/** The runs of `*`, `_` and `~` in `chars`, each marked with what the Python renderer pairs it as. */
export function pairedRuns(chars: readonly string[]): Run[] {
  const runs: Run[] = [];
  const code = new CodeSpans(chars);
  let block: Run[] = [];
  for (let i = 0; i < chars.length; ) {
    const char = chars[i];
    if (char === '\\') {
      i += 2; // an escaped character is text
    } else if (char === '`') {
      i = code.endOf(i, runEndOf(chars, i, '`'));
    } else if (char === '\n' && BLOCK_START.test(lineAt(chars, i + 1))) {
      pair(block);
      block = [];
      i++;
    } else if (char === '*' || char === '_' || char === '~') {
      const end = runEnd(chars, i);
      const { opens, closes } = flanking(char, chars[i - 1], chars[end]);
      const run = { start: i, end, marker: char, opens, closes, opened: false, closed: false };
      runs.push(run);
      block.push(run);
      i = end;
    } else {
      i++;
    }
  }
  pair(block);
  return runs;
}

/**
 * How the Python renderer reads a run of `marker` between `before` and `after` (undefined at the start or end of
 * the text, which count as space): CommonMark's flanking under the amendment, where a CJK character beside the run
 * is neither blocking punctuation after it nor a letter before it; a `_` run opens or closes inside no word.
 */
function flanking(marker: string, before = ' ', after = ' '): Flanking {
  const [spaceBefore, spaceAfter] = [SPACE.test(before), SPACE.test(after)];
  const [punctBefore, punctAfter] = [PUNCTUATION.test(before), PUNCTUATION.test(after)];
  const [cjkBefore, cjkAfter] = [CJK.test(before), CJK.test(after)];
  const left = !spaceAfter && (!punctAfter || cjkAfter || spaceBefore || punctBefore || cjkBefore);
  const right = !spaceBefore && (!punctBefore || cjkBefore || spaceAfter || punctAfter || cjkAfter);
  if (marker !== '_') {
    return { opens: left, closes: right };
  }
  return { opens: left && (!right || punctBefore), closes: right && (!left || punctAfter) };
}

/** Where the run of `*`, `_` or `~` at `start` ends; just past `start` for any other character. */
function runEnd(chars: readonly string[], start: number): number {
  let end = start + 1;
  if ('*_~'.includes(chars[start])) {
    while (chars[end] === chars[start]) {
      end++;
    }
  }
  return end;
}

/**
 * Where code spans (and fenced code) end, for the scan in `pairedRuns`, which asks in order through the text: each
 * question moves a pointer forward, so a text full of unmatched backticks still costs time in proportion to it.
 */
class CodeSpans {
  private readonly starts = new Map<number, number[]>(); // where each run of backticks starts, by its length
  private readonly next = new Map<number, number>(); // for each length, the first of those not yet passed
  private readonly blanks: number[] = []; // the line breaks that a blank line follows
  private nextBlank = 0;

  constructor(chars: readonly string[]) {
    for (let i = 0; i < chars.length; i++) {
      if (chars[i] === '`') {
        const end = runEndOf(chars, i, '`');
        const starts = this.starts.get(end - i) ?? [];
        starts.push(i);
        this.starts.set(end - i, starts);
        i = end - 1;
      } else if (chars[i] === '\n' && lineAt(chars, i + 1).trim() === '') {
        this.blanks.push(i);
      }
    }
  }

  /**
   * Past the code span whose backticks run from `start` to `end`: past the next run as long before a blank line (a
   * code span ends with its paragraph; fenced code with a blank line in it is read on from there as text, which
   * only lets a joiner land in code, where the renderer takes it out again); or just past them where none is.
   */
  endOf(start: number, end: number): number {
    const length = end - start;
    const starts = this.starts.get(length) ?? [];
    let next = this.next.get(length) ?? 0;
    while (next < starts.length && starts[next] < end) {
      next++;
    }
    this.next.set(length, next);
    while (this.nextBlank < this.blanks.length && this.blanks[this.nextBlank] < end) {
      this.nextBlank++;
    }
    const closing = starts[next];
    const blank = this.blanks[this.nextBlank] ?? Infinity;
    return closing !== undefined && closing < blank ? closing + length : end;
  }
}

function runEndOf(chars: readonly string[], start: number, char: string): number {
  let end = start;
  while (chars[end] === char) {
    end++;
  }
  return end;
}

/** The line that starts at `start` (to its end, or the text's). */
function lineAt(chars: readonly string[], start: number): string {
  let end = start;
  while (end < chars.length && chars[end] !== '\n') {
    end++;
  }
  return chars.slice(start, end).join('');
}

/** Marks which of a block's `runs` open and which close, as markdown-it pairs them. */
function pair(runs: readonly Run[]): void {
  const delimiters: Delimiter[] = [];
  let token = 0;
  for (const run of runs) {
    const length = run.end - run.start;
    // markdown-it's strikethrough: `~~` pairs, a single `~` is text, and so is the first of an odd run
    const [units, unitLength] = run.marker === '~' ? [Math.floor(length / 2), 0] : [length, length];
    for (let k = 0; k < units; k++) {
      delimiters.push({ run, length: unitLength, token: token++, open: run.opens, close: run.closes, end: -1 });
    }
    token++; // two runs are never one
  }
  balancePairs(delimiters);
  delimiters.forEach(opener => {
    if (opener.end >= 0) {
      opener.run.opened = true;
      delimiters[opener.end].run.closed = true;
    }
  });
}

/** markdown-it's `processDelimiters` (balance_pairs), which is CommonMark's "process emphasis", step by step. */
function balancePairs(delimiters: Delimiter[]): void {
  const openersBottom = new Map<string, number[]>(); // where earlier searches failed, by marker and kind of closer
  const jumps: number[] = [];
  let headerIdx = 0; // the first delimiter of the closer's run
  let lastToken = -2;
  for (let closerIdx = 0; closerIdx < delimiters.length; closerIdx++) {
    const closer = delimiters[closerIdx];
    jumps.push(0);
    if (delimiters[headerIdx].run.marker !== closer.run.marker || lastToken !== closer.token - 1) {
      headerIdx = closerIdx;
    }
    lastToken = closer.token;
    if (!closer.close) {
      continue;
    }
    const bottoms = openersBottom.get(closer.run.marker) ?? [-1, -1, -1, -1, -1, -1];
    openersBottom.set(closer.run.marker, bottoms);
    const bottom = (closer.open ? 3 : 0) + (closer.length % 3);
    let openerIdx = headerIdx - jumps[headerIdx] - 1;
    let newBottom = openerIdx;
    for (; openerIdx > bottoms[bottom]; openerIdx -= jumps[openerIdx] + 1) {
      const opener = delimiters[openerIdx];
      if (opener.run.marker !== closer.run.marker || !opener.open || opener.end >= 0) {
        continue;
      }
      const oddMatch =
        (opener.close || closer.open) &&
        (opener.length + closer.length) % 3 === 0 &&
        (opener.length % 3 !== 0 || closer.length % 3 !== 0);
      if (oddMatch) {
        continue;
      }
      const lastJump = openerIdx > 0 && !delimiters[openerIdx - 1].open ? jumps[openerIdx - 1] + 1 : 0;
      jumps[closerIdx] = closerIdx - openerIdx + lastJump;
      jumps[openerIdx] = lastJump;
      closer.open = false;
      opener.end = closerIdx;
      opener.close = false;
      newBottom = -1;
      lastToken = -2;
      break;
    }
    if (newBottom !== -1) {
      bottoms[bottom] = newBottom;
    }
  }
}
