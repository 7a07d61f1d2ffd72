/**
 * The transcript record (`application/vnd.glm-nb.transcript+json`) and the pure functions the renderer and the
 * commands need. No DOM and no JupyterLab imports here, so `node --test` runs these as they are.
 *
 * The record is written by `glm_nb.render.Transcript.to_json` (one reply) or `ChatExport.to_json` (a chat panel's
 * turns). Everything in it came from a model or a tool: it is data to show, never markup to trust.
 */

// with its extension, for Node to load lib/ as it is
export { Segment, splitFences } from './answer.js';

export const MIME_TYPE = 'application/vnd.glm-nb.transcript+json';

export interface ITextPart {
  type: 'thinking' | 'text';
  text: string;
}

export interface IToolPart {
  type: 'tool';
  name: string;
  arguments: Record<string, unknown>;
  status: string;
  result: string | null;
  error: string | null;
  duration_s: number | null;
}

export type Part = ITextPart | IToolPart;

export interface IUsage {
  prompt_tokens?: number;
  reused_prompt_tokens?: number;
  new_tokens?: number;
  time_to_first_token_s?: number | null;
  decode_tokens_per_s?: number | null;
}

export interface IReply {
  kind: 'reply';
  variant: string;
  model: string;
  prompt: string;
  parts: Part[];
  answer: string;
  format: string;
  usage: IUsage | null;
  finish_reason: string | null;
  thinking_display: 'collapsed' | 'shown' | 'hidden';
  note: string;
  /** When the kernel showed this snapshot of a streaming reply (seconds since 1970), where it says. */
  updated_at: number | null;
}

/** The record `version` this renderer reads (`glm_nb.render.transcript.SCHEMA_VERSION`). */
export const SCHEMA_VERSION = 1;
export const OTHER_VERSION_NOTE =
  'This transcript was written by another glm-nb version; shown as this version reads it.';
export const UNREADABLE_TURN_NOTE =
  'This turn of the chat could not be read (it has no parts): it was edited, or written by another glm-nb ' +
  'version. Open the notebook with the glm-nb version that wrote it to see this turn.';

/**
 * What a renderer shows for one record: its replies, in order. A chat's turn that cannot be read is shown as a note
 * in its place, so that the turns around it still show; a reply that cannot be read throws.
 */
export function repliesOf(data: unknown): IReply[] {
  if (!isObject(data)) {
    throw new Error('This glm-nb transcript is not a JSON object.');
  }
  if (data.kind === 'chat') {
    const turns = Array.isArray(data.turns) ? data.turns : [];
    return turns.map(turn => (hasParts(turn) ? reply(turn) : unreadableTurn()));
  }
  return [reply(data)];
}

function hasParts(data: unknown): boolean {
  return isObject(data) && Array.isArray(data.parts);
}

function unreadableTurn(): IReply {
  const ended = reply({ version: SCHEMA_VERSION, parts: [], finish_reason: 'unknown' }); // nothing to wait for
  return { ...ended, note: UNREADABLE_TURN_NOTE };
}

function reply(data: unknown): IReply {
  if (!isObject(data) || !hasParts(data)) {
    throw new Error(
      'This glm-nb transcript has no parts: it was edited, or written by another version of glm-nb. Open the ' +
        'notebook with the glm-nb version that wrote it to see it.'
    );
  }
  const parts: Part[] = [];
  for (const raw of data.parts) {
    if (!isObject(raw)) {
      continue;
    }
    if (raw.type === 'tool') {
      parts.push({
        type: 'tool',
        name: str(raw.name),
        arguments: isObject(raw.arguments) ? raw.arguments : {},
        status: str(raw.status) || 'running',
        result: typeof raw.result === 'string' ? raw.result : null,
        error: typeof raw.error === 'string' ? raw.error : null,
        duration_s: typeof raw.duration_s === 'number' ? raw.duration_s : null
      });
    } else if (raw.type === 'thinking' || raw.type === 'text') {
      parts.push({ type: raw.type, text: str(raw.text) });
    }
  }
  const display = str(data.thinking_display);
  const other = data.version !== SCHEMA_VERSION;
  const note = str(data.note);
  return {
    kind: 'reply',
    variant: str(data.variant) || 'chat',
    model: str(data.model),
    prompt: str(data.prompt),
    parts,
    answer: str(data.answer),
    format: str(data.format) || 'markdown',
    usage: usageOf(data.usage),
    // another version's record may never get the final update this one expects: not shown as "generating…"
    finish_reason: typeof data.finish_reason === 'string' ? data.finish_reason : other ? 'unknown' : null,
    thinking_display: display === 'shown' || display === 'hidden' ? display : 'collapsed',
    note: other ? (note ? `${OTHER_VERSION_NOTE} ${note}` : OTHER_VERSION_NOTE) : note,
    updated_at: typeof data.updated_at === 'number' && Number.isFinite(data.updated_at) ? data.updated_at : null
  };
}

const USAGE_FIELDS = [
  'prompt_tokens',
  'reused_prompt_tokens',
  'new_tokens',
  'time_to_first_token_s',
  'decode_tokens_per_s'
] as const;

/** The usage numbers a record carries; anything else in a forged file (a string, an object) is left out. */
function usageOf(value: unknown): IUsage | null {
  if (!isObject(value)) {
    return null;
  }
  const usage: IUsage = {};
  for (const field of USAGE_FIELDS) {
    const number = value[field];
    if (typeof number === 'number' && Number.isFinite(number)) {
      usage[field] = number;
    }
  }
  return usage;
}

// A Map, not an object: `in` would find 'constructor' or 'toString' in a forged record's finish_reason.
const FINISH_REASONS = new Map([
  ['cancelled', '⏹ interrupted'],
  ['length', 'stopped at the token limit'],
  ['round_limit', 'tool round limit'],
  ['error', '⚠ stopped by an error']
]);
// A research (Rumination) reply's rounds are its turns: it ran out of them, not of tool rounds.
const RESEARCH_TURN_LIMIT = 'research turn limit';

// The Python fallback's rule (`glm_nb.cjk.word_count`), kept identical so both say the same count:
// Chinese and Japanese write no spaces between words, so each character counts as a word and their punctuation as
// none (not Hangul: Korean spaces its words). Whitespace is Python's `str.split()` set, not JavaScript's `\s`
// (which adds U+FEFF and leaves out U+001C-U+001F and U+0085).
const CJK_WORD = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/g;
const CJK_PUNCTUATION = /[\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]/g;
const PYTHON_SPACE = /[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** The words in a thought, as its "Thinking (N words)" says: split at spaces, each CJK character a word. */
export function wordCount(text: string): number {
  const characters = (text.match(CJK_WORD) ?? []).length;
  const spaced = text.replace(CJK_WORD, ' ').replace(CJK_PUNCTUATION, ' ');
  return characters + spaced.split(PYTHON_SPACE).filter(Boolean).length;
}

/** How long a streaming reply may go without an update before its footer stops saying only "generating…". */
export const STALE_AFTER_S = 120;

/**
 * Whether the record's last reply is still streaming, and when the kernel showed it (`updated_at`, seconds since
 * 1970) where the record says. A record that cannot be read is not streaming.
 */
export function streamState(data: unknown): { streaming: boolean; updatedAt: number | null } {
  let last: IReply | undefined;
  try {
    const replies = repliesOf(data);
    last = replies[replies.length - 1];
  } catch {
    last = undefined;
  }
  return { streaming: last?.finish_reason === null, updatedAt: last?.updated_at ?? null };
}

/**
 * Why a reply that says it is streaming may never end on screen, or null while it looks live. A record saved while
 * its reply streamed (the kernel died, or the page was reloaded: a new page never gets the old display's updates)
 * says "streaming" forever, and nothing in it can prove the kernel is gone; so after `STALE_AFTER_S` with no update
 * the footer says what the user may be looking at. `quietS`: seconds since this page got the record's last change.
 * `savedAgoS`: seconds since the kernel stamped it (by the browser's clock), or null: the caller passes it only for
 * the first record it draws, since a kernel clock set apart from the browser's must not make a live stream stale.
 */
export function staleNote(quietS: number, savedAgoS: number | null): string | null {
  const quiet = Math.max(quietS, savedAgoS ?? 0);
  return quiet >= STALE_AFTER_S ? `no update for over ${duration(quiet)}` : null;
}

function duration(seconds: number): string {
  if (seconds < 2 * 3600) {
    return `${Math.floor(seconds / 60)} min`;
  }
  return seconds < 2 * 86400 ? `${Math.floor(seconds / 3600)} h` : `${Math.floor(seconds / 86400)} days`;
}

/**
 * The usage line under a reply, the same words as the Python fallback (`glm_nb.render.footer_text`) but for a
 * streaming reply's: the fallback cannot know when it is read, this renderer can. `stale`: what `staleNote` said of
 * a streaming reply, or null.
 */
export function footerText(r: IReply, stale: string | null = null): string {
  const items = [r.model];
  if (r.variant !== 'chat') {
    items.push(r.variant);
  }
  if (r.finish_reason === null) {
    const saved = `generating… or interrupted: ${stale} (a reply saved before it ended stays like this)`;
    items.push(stale ? saved : 'generating…');
  }
  const usage = r.usage ?? {};
  if (usage.new_tokens) {
    items.push(`${usage.new_tokens} tokens`);
  }
  const ttft = usage.time_to_first_token_s;
  if (typeof ttft === 'number') {
    items.push(ttft < 1 ? `first token ${Math.round(ttft * 1000)} ms` : `first token ${ttft.toFixed(2)} s`);
  }
  if (typeof usage.decode_tokens_per_s === 'number') {
    items.push(`${usage.decode_tokens_per_s.toFixed(1)} tok/s`);
  }
  if (usage.prompt_tokens) {
    items.push(`prompt ${usage.prompt_tokens} (${usage.reused_prompt_tokens ?? 0} cached)`);
  }
  const reason = finishWords(r);
  if (reason) {
    items.push(reason);
  }
  return items.filter(Boolean).join(' · ');
}

/** Why a reply ended, in the footer's words; nothing for one that ended as asked, or still streams. */
function finishWords(r: IReply): string | undefined {
  if (r.finish_reason === 'round_limit' && r.variant === 'rumination') {
    return RESEARCH_TURN_LIMIT;
  }
  return r.finish_reason !== null ? FINISH_REASONS.get(r.finish_reason) : undefined;
}

/** Terminal colour codes out of a traceback. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '');
}

export interface ICellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

const TRACEBACK_LINES = 40;

// A line that names an error the way Python prints one: `UsageError: …`, `ValueError: …`, `foo.BarError: …`.
const ERROR_LINE = /^([A-Za-z_][\w.]*(?:Error|Exception)): ?(.*)$/m;

/**
 * The errors among a cell's outputs (their nbformat JSON): `error` outputs, and stderr text that names an error
 * (IPython prints a UsageError, which every mistake in a `%%glm` line raises, as stderr text, not as an error).
 */
export function cellErrorsOf(outputs: unknown[]): ICellError[] {
  const errors: ICellError[] = [];
  for (const data of outputs) {
    if (!isObject(data)) {
      continue;
    }
    if (data.output_type === 'error') {
      const traceback = Array.isArray(data.traceback) ? data.traceback.filter(line => typeof line === 'string') : [];
      errors.push({ ename: str(data.ename) || 'Error', evalue: str(data.evalue), traceback });
    } else if (data.output_type === 'stream' && data.name === 'stderr') {
      const raw = Array.isArray(data.text) ? data.text.filter(t => typeof t === 'string').join('') : str(data.text);
      const text = stripAnsi(raw);
      const match = ERROR_LINE.exec(text);
      if (match) {
        errors.push({ ename: match[1], evalue: match[2], traceback: text.trimEnd().split('\n') });
      }
    }
  }
  return errors;
}

/** Whether "Explain this cell" has anything to explain: a cell with source that is not blank. */
export function canExplain(source: string | null | undefined): boolean {
  return typeof source === 'string' && source.trim() !== '';
}

/**
 * The language to fence a cell's source in: markdown for a markdown cell, none for a raw one, and for a code cell
 * the notebook's (the kernel's language, else `metadata.language_info.name`), python where neither is known.
 */
export function explainLanguage(cellType: string, kernelLanguage?: unknown, metadataLanguage?: unknown): string {
  if (cellType === 'markdown') {
    return 'markdown';
  }
  if (cellType !== 'code') {
    return '';
  }
  for (const candidate of [kernelLanguage, metadataLanguage]) {
    // one word only: it goes on the fence's opening line
    if (typeof candidate === 'string' && /^[\w+#.-]+$/.test(candidate.trim())) {
      return candidate.trim().toLowerCase();
    }
  }
  return 'python';
}

/**
 * The source of the `%%glm` cell that "Explain this cell" inserts. `--raw` keeps `{name}` in the quoted code as
 * written (the magic would otherwise put notebook values there). A fence longer than any run of backticks in the
 * quoted text keeps the quote in one block.
 */
export function explainCellSource(source: string, language: string, errors: ICellError[]): string {
  const lines = ['%%glm --raw'];
  lines.push(
    errors.length ? 'Explain what this cell does, why it fails, and how to fix it.' : 'Explain what this cell does.'
  );
  lines.push('', ...fenced(source.trimEnd(), language)); // trimEnd: /\s+$/ is quadratic on a run of spaces
  for (const error of errors) {
    const traceback = stripAnsi(error.traceback.join('\n')).split('\n');
    const tail = traceback.slice(-TRACEBACK_LINES).join('\n').trim();
    lines.push('', 'The error:', ...fenced(tail || `${error.ename}: ${error.evalue}`, ''));
  }
  return lines.join('\n');
}

function fenced(text: string, language: string): string[] {
  // a loop, not Math.max(...runs): spreading a source with ~100k runs of backticks overflows the stack
  const longest = (text.match(/`+/g) ?? []).reduce((most, run) => Math.max(most, run.length), 2);
  const fence = '`'.repeat(longest + 1);
  return [fence + language, text, fence];
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export type CodePiece = { kind: 'text'; text: string } | { kind: 'invisible'; code: string };

// What changes how code runs or reads but shows nothing (or moves other text) where it is drawn: control
// characters (a lone carriage return ends a Python line, yet a page shows the rest on the same line), bidirectional
// controls (Trojan Source), zero-width, filler and tag characters. Tabs, newlines and CRLF line ends are left alone.
const INVISIBLE = new RegExp(
  [
    '\\r(?!\\n)',
    '[\\0-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\xad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f]',
    '[\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb]',
    '[\\u{e0000}-\\u{e01ef}]'
  ].join('|'),
  'gu'
);
/**
 * A code block's text cut at its invisible characters, each given as its code point (`U+202E`), so that what a
 * code block shows is what "Copy" and "Insert as cell below" put in a cell.
 */
export function codePieces(text: string): CodePiece[] {
  const pieces: CodePiece[] = [];
  let start = 0;
  for (const match of text.matchAll(INVISIBLE)) {
    const index = match.index ?? 0;
    if (index > start) {
      pieces.push({ kind: 'text', text: text.slice(start, index) });
    }
    const point = match[0].codePointAt(0) ?? 0;
    pieces.push({ kind: 'invisible', code: `U+${point.toString(16).toUpperCase().padStart(4, '0')}` });
    start = index + match[0].length;
  }
  if (start < text.length) {
    pieces.push({ kind: 'text', text: text.slice(start) });
  }
  return pieces;
}
