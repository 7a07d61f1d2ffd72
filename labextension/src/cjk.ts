/**
 * Emphasis that reads Chinese, Japanese and Korean right under JupyterLab's markdown renderer (marked), as the
 * Python renderer has it (`glm_nb.render.markdown_cjk`, the CommonMark CJK-friendly amendment:
 * github.com/tats-u/markdown-cjk-friendly). No DOM here, so `node --test` runs it as it is.
 *
 * Plain CommonMark leaves `**注意：**这是` as literal asterisks: a run after punctuation and before a letter cannot
 * close. JupyterLab's parser is shared by every notebook and takes no extension from us, so the source is changed
 * instead: where the amendment lets a `*` run (or a `~~` strikethrough, which the Python renderer reads by the same
 * rules) open or close and CommonMark does not, a word joiner (U+2060: neither space nor punctuation to marked, and
 * invisible) goes between the run and the punctuation that blocks it. The renderer removes every word joiner once
 * the markdown is drawn (`withoutJoiners`), so none stays on the page, nor in code where one may land (code spans
 * are skipped, but fenced code with a blank line in it is read as text). The source stays untrusted text; it is
 * sanitized after this as before.
 *
 * A `_` run needs nothing: the amendment's rules for `_` (a run inside a word neither opens nor closes) give the
 * same as CommonMark's wherever they are read, so `__注意：__这是` stays literal in both renderers. But a joiner
 * after a `_` run would keep it from closing, so none goes there where it closes (as `emphasis.ts` pairs the runs);
 * where that `_` closes and the `*` run after it needs the joiner to close too (`**_a注意_**中`), one character
 * cannot tell marked both, and the `_` wins (the Python renderer draws both).
 *
 * marked pairs runs by its own method, not CommonMark's, so mixing kinds of runs (`*`, `_`, `~~`, a lone `~`) can
 * still draw differently (tests/lab/test_cjk_emphasis_agreement.py counts how often).
 */
// with its extension, for Node to load lib/ as it is
import { CJK, pairedRuns, PUNCTUATION, Run, SPACE } from './emphasis.js';

export const JOINER = '\u2060';

// marked, reading GitHub's markdown as JupyterLab has it, takes a `~` beside a `*` run for a letter
const PUNCTUATION_BESIDE_STAR = /(?!~)[\p{P}\p{S}]/u;

type Side = 'before' | 'after' | 'none';

/** `source` with a word joiner wherever the CJK-friendly amendment lets a `*` or `~~` run open or close. */
export function cjkFriendlyEmphasis(source: string): string {
  if (!CJK.test(source)) {
    return source; // the amendment changes nothing without a CJK character
  }
  const chars = Array.from(source); // by code point: CJK Extension B and on are two UTF-16 units
  const runs = pairedRuns(chars);
  const closingUnderscores = new Set(runs.filter(run => run.marker === '_' && run.closed).map(run => run.end));
  const out: string[] = [];
  let last = 0;
  for (const run of runs) {
    if (run.marker === '_' || (run.marker === '~' && run.end - run.start !== 2)) {
      continue; // the amendment gives a `_` run nothing CommonMark does not; a lone `~` strikes nothing (longer
      // runs than `~~` are left as marked reads them)
    }
    const joiner = joinerBeside(run, chars, closingUnderscores.has(run.start));
    out.push(chars.slice(last, run.start).join(''), joiner === 'before' ? JOINER : '');
    out.push(chars.slice(run.start, run.end).join(''), joiner === 'after' ? JOINER : '');
    last = run.end;
  }
  out.push(chars.slice(last).join(''));
  return out.join('');
}

/**
 * Which side of a `*` or `~~` run a word joiner goes on, if any: after it where the amendment lets it open and
 * marked would not, before it where the same holds for closing; never before one that follows a closing `_` run
 * (`afterClosingUnderscore`). marked takes a `~` beside a `*` run for a letter, where CommonMark (and the Python
 * renderer) takes it for punctuation; where that alone decides, only a run the Python renderer pairs gets a joiner:
 * marked pairs part of a run that it lets open or close, so one that pairs with nothing draws (`x**「*~a这`).
 */
function joinerBeside(run: Run, chars: readonly string[], afterClosingUnderscore: boolean): Side {
  const before = chars[run.start - 1] ?? ' '; // the start and end of the text count as space
  const after = chars[run.end] ?? ' ';
  const side = (punctuation: RegExp): Side => {
    if (opensOnlyAmended(before, after, punctuation)) {
      return 'after'; // `after` is the punctuation that kept the run from opening
    }
    if (opensOnlyAmended(after, before, punctuation) && !afterClosingUnderscore) {
      return 'before'; // and `before` the one that kept it from closing
    }
    return 'none';
  };
  const asMarked = side(run.marker === '*' ? PUNCTUATION_BESIDE_STAR : PUNCTUATION);
  return run.opened || run.closed || side(PUNCTUATION) === asMarked ? asMarked : 'none';
}

/**
 * Whether a run between `before` and `after` is left-flanking (may open) under the amendment but not under
 * CommonMark; with the two swapped, the same for right-flanking (may close). CommonMark: not followed by space,
 * and not followed by punctuation unless preceded by space or punctuation. The amendment: a CJK character on
 * either side counts as neither blocking punctuation after the run nor as a letter before it.
 */
function opensOnlyAmended(before: string, after: string, punctuation: RegExp): boolean {
  if (SPACE.test(after) || !punctuation.test(after) || SPACE.test(before) || punctuation.test(before)) {
    return false; // CommonMark lets it open already, or nothing does
  }
  return CJK.test(after) || CJK.test(before);
}

/** `text` without the word joiners `cjkFriendlyEmphasis` put in (and any the model wrote: they show nothing). */
export function withoutJoiners(text: string): string {
  return text.includes(JOINER) ? text.split(JOINER).join('') : text;
}
