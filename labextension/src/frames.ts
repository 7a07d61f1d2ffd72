/**
 * Artifacts in sandboxed frames (DESIGN.md, decision 6: model output never runs in the page's origin).
 *
 * No frame is ever given `allow-same-origin`: its document lives in an opaque origin, so it cannot reach
 * `parent.document`, the notebook's cookies or storage, or navigate the page, and a request it makes carries no
 * credentials. A Content-Security-Policy at the top of the model's document keeps it offline (`default-src 'none'`:
 * no fetch, no external script, image or font).
 *
 * An HTML page is drawn without its scripts (`sandbox=""`: its HTML and CSS render, nothing of it runs), since no
 * policy keeps a running script offline: chromium's CSP does not cover WebRTC, so a script could send a STUN/TURN
 * request carrying data to a server of its choosing, with no click. Its scripts run only in the frame that
 * `htmlFrame(source, true)` makes, `sandbox="allow-scripts"`, which the renderer makes when the user clicks "Run
 * scripts" beside the page (`hasScripts` says whether to offer that). An SVG frame never runs scripts.
 *
 * No policy a document sets for itself can stop it from navigating its own frame (`location = url`, a meta refresh,
 * a clicked link), which would carry data out in the URL. So the model's document is shown in a frame inside a
 * second sandboxed frame, a wrapper of ours with no model content whose policy has `frame-src 'none'`: the browser
 * refuses every navigation of the inner frame.
 *
 * A running HTML page reports its content height with `postMessage`; its wrapper passes on a number, and only from
 * its own inner frame's window. `FrameSizer` accepts a message only from the window of a (wrapper) frame it shows,
 * and only a number. A static frame keeps the default height (nothing in it runs to report one), and an SVG frame's
 * height comes from the drawing's own size.
 */

const CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:; " +
  "media-src data:";
const STATIC_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; media-src data:";
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:";
// The wrappers' own policies: `frame-src 'none'` is what forbids any navigation of the model's frame inside.
const HTML_WRAPPER_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-src 'none'";
const STATIC_WRAPPER_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'none'";
const DEFAULT_HEIGHT = 360;
const PAGE_TITLE = 'Page from the model';
const MAX_HEIGHT = 2000;
const DRAWING_WIDTH = 480; // how wide a drawing that says only its aspect (its viewBox) is drawn, in pixels

const REPORT_HEIGHT = `<script>(function(){var last=0;function send(){var h=Math.ceil(
document.documentElement.scrollHeight);if(h!==last){last=h;parent.postMessage({glmNbFrameHeight:h},'*');}}
addEventListener('load',send);if(window.ResizeObserver){new ResizeObserver(send).observe(document.documentElement);}
})();</script>`;

const WRAPPER_STYLE =
  '<style>html,body{margin:0;height:100%;overflow:hidden}' +
  'iframe{display:block;width:100%;height:100%;border:0}</style>';

// In the HTML wrapper: pass on the inner frame's height, a number, and nothing else or from anyone else.
const RELAY_HEIGHT = `<script>(function(){var inner=document.querySelector('iframe');addEventListener('message',
function(e){if(e.source!==inner.contentWindow||!e.data||typeof e.data!=='object'){return;}
var h=e.data.glmNbFrameHeight;if(typeof h==='number'&&isFinite(h)&&h>0){
parent.postMessage({glmNbFrameHeight:h},'*');}});})();</script>`;

function meta(csp: string): string {
  return `<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}">`;
}

function escapeAttribute(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/**
 * The wrapper's document: its policy first, then the model's document in an inner frame with the same sandbox and
 * the same `title` as the wrapper's frame (a screen reader passes through both).
 */
function wrapper(csp: string, doc: string, sandbox: string, title: string, script = ''): string {
  const named = `title="${escapeAttribute(title)}" sandbox="${sandbox}" referrerpolicy="no-referrer"`;
  return meta(csp) + WRAPPER_STYLE + `<iframe ${named} srcdoc="${escapeAttribute(doc)}"></iframe>` + script;
}

/** A frame of ours; `title` is what a screen reader calls it (without one it says only "frame"). */
function frame(srcdoc: string, sandbox: string, className: string, height: number, title: string): HTMLIFrameElement {
  const element = document.createElement('iframe');
  element.title = title;
  element.setAttribute('sandbox', sandbox);
  element.setAttribute('referrerpolicy', 'no-referrer');
  element.className = className;
  element.style.height = `${height}px`;
  element.srcdoc = srcdoc;
  return element;
}

/**
 * An HTML artifact, offline, in a frame that cannot be navigated: static (no script runs), or with `scripts` (what
 * "Run scripts" makes) its scripts running in an opaque origin.
 */
export function htmlFrame(source: string, scripts = false): HTMLIFrameElement {
  const className = 'glm-nb-frame glm-nb-html-frame';
  if (!scripts) {
    const doc = meta(STATIC_CSP) + source;
    return frame(wrapper(STATIC_WRAPPER_CSP, doc, '', PAGE_TITLE), '', className, DEFAULT_HEIGHT, PAGE_TITLE);
  }
  const title = `${PAGE_TITLE}, its scripts running`;
  const doc = meta(CSP) + source + REPORT_HEIGHT;
  const outer = wrapper(HTML_WRAPPER_CSP, doc, 'allow-scripts', title, RELAY_HEIGHT);
  return frame(outer, 'allow-scripts', className, DEFAULT_HEIGHT, title);
}

// A drawing that gives no width of its own (models often write only a viewBox) would fill the frame's width, and
// its height with it, past the frame `svgHeight` sized for 480 pixels across: it is drawn 480 across. Whatever
// that height misjudges (a width in centimetres, a drawing wider than the frame), the drawing is scaled to fit the
// frame rather than cut off.
const SVG_STYLE =
  '<style>html,body{margin:0;background:transparent}svg{max-width:100%;height:auto}' +
  `body>svg{display:block;max-height:100vh}body>svg:not([width]),body>svg[width$="%"]{width:${DRAWING_WIDTH}px}` +
  '</style>';

/** An SVG artifact: no scripts at all; the frame's height follows the drawing's own size. */
export function svgFrame(source: string): HTMLIFrameElement {
  const doc = meta(SVG_CSP) + SVG_STYLE + source;
  const [className, title] = ['glm-nb-frame glm-nb-svg-frame', 'Drawing from the model'];
  return frame(wrapper(STATIC_WRAPPER_CSP, doc, '', title), '', className, svgHeight(source), title);
}

const SCRIPTED = /<script\b|[\s"'/]on[a-z]+\s*=/i;
// A Map, not an object: a forged `&constructor;` must not find Object's own properties.
const NAMED_REFERENCES = new Map([
  ['lt', '<'],
  ['gt', '>'],
  ['amp', '&'],
  ['quot', '"'],
  ['apos', "'"],
  ['tab', '\t'],
  ['newline', '\n'],
  ['colon', ':']
]);

/**
 * Whether `source` would run script with scripts allowed: a `<script>`, an `on…=` handler or a `javascript:` URL,
 * as written or behind character references (`&#106;avascript:`, a nested srcdoc's `&lt;script>`). Erring either
 * way is safe: it only decides whether "Run scripts" is offered, and the page is drawn without scripts regardless.
 */
export function hasScripts(source: string): boolean {
  // a browser skips control characters and spaces in a URL's scheme: `java\tscript:` is `javascript:`
  // eslint-disable-next-line no-control-regex
  const squeeze = (text: string) => text.replace(/[\x00-\x20]+/g, '').toLowerCase();
  const scripted = (text: string) => SCRIPTED.test(text) || squeeze(text).includes('javascript:');
  return scripted(source) || scripted(decodeReferences(source));
}

function decodeReferences(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);?/gi, (whole: string, name: string) => {
    const lower = name.toLowerCase();
    if (!lower.startsWith('#')) {
      return NAMED_REFERENCES.get(lower) ?? whole;
    }
    const point = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
    return point > 0 && point <= 0x10ffff ? String.fromCodePoint(point) : whole;
  });
}

/** The height an SVG asks for (height, else the viewBox's aspect), read without running it. */
export function svgHeight(source: string): number {
  try {
    const root = new DOMParser().parseFromString(source, 'image/svg+xml').documentElement;
    if (root.nodeName.toLowerCase() !== 'svg') {
      return DEFAULT_HEIGHT;
    }
    const height = parseFloat(root.getAttribute('height') ?? '');
    if (height > 0 && !/%/.test(root.getAttribute('height') ?? '')) {
      return Math.min(Math.ceil(height) + 8, MAX_HEIGHT);
    }
    const box = (root.getAttribute('viewBox') ?? '').split(/[\s,]+/).map(Number);
    if (box.length === 4 && box[2] > 0 && box[3] > 0) {
      return Math.min(Math.ceil((box[3] / box[2]) * DRAWING_WIDTH) + 8, MAX_HEIGHT);
    }
  } catch {
    // an unparsable drawing keeps the default frame
  }
  return DEFAULT_HEIGHT;
}

/**
 * Sizes the HTML frames of one output from their height reports, relayed by their wrappers. Dispose it with the
 * renderer.
 */
export class FrameSizer {
  private host: HTMLElement | null = null;
  private readonly listener = (event: MessageEvent) => this.onMessage(event);

  constructor() {
    window.addEventListener('message', this.listener);
  }

  /** Size the frames shown in `host` (a redraw replaces it; "Run scripts" replaces a frame inside it). */
  watch(host: HTMLElement): void {
    this.host = host;
  }

  dispose(): void {
    window.removeEventListener('message', this.listener);
    this.host = null;
  }

  private onMessage(event: MessageEvent): void {
    const frames = Array.from(this.host?.querySelectorAll<HTMLIFrameElement>('iframe.glm-nb-html-frame') ?? []);
    const target = frames.find(f => f.contentWindow !== null && f.contentWindow === event.source);
    if (!target || typeof event.data !== 'object' || event.data === null) {
      return;
    }
    const height = (event.data as { glmNbFrameHeight?: unknown }).glmNbFrameHeight;
    if (typeof height === 'number' && Number.isFinite(height) && height > 0) {
      target.style.height = `${Math.min(Math.ceil(height) + 4, MAX_HEIGHT)}px`;
    }
  }
}
