/**
 * Artifacts in sandboxed frames (DESIGN.md, decision 6: model output never runs in the page's origin).
 *
 * Every frame has `sandbox="allow-scripts"` (SVG: `sandbox=""`, no scripts at all) and never `allow-same-origin`:
 * its document lives in an opaque origin, so it cannot reach `parent.document`, the notebook's cookies or storage,
 * or navigate the page, and a request it makes carries no credentials. A Content-Security-Policy at the top of the
 * model's document keeps it offline (`default-src 'none'`: no fetch, no external script, image or font).
 *
 * No policy a document sets for itself can stop it from navigating its own frame (`location = url`, a meta refresh,
 * a clicked link), which would carry data out in the URL. So the model's document is shown in a frame inside a
 * second sandboxed frame, a wrapper of ours with no model content whose policy has `frame-src 'none'`: the browser
 * refuses every navigation of the inner frame.
 *
 * An HTML page reports its content height with `postMessage`; its wrapper passes on a number, and only from its own
 * inner frame's window. `FrameSizer` accepts a message only from the window of a (wrapper) frame it made, and only a
 * number. An SVG frame's height comes from the drawing's own size, and its wrapper runs no script.
 */

const CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:; " +
  "media-src data:";
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:";
// The wrappers' own policies: `frame-src 'none'` is what forbids any navigation of the model's frame inside.
const HTML_WRAPPER_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-src 'none'";
const SVG_WRAPPER_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'none'";
const DEFAULT_HEIGHT = 360;
const MAX_HEIGHT = 2000;

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

/** The wrapper's document: its policy first, then the model's document in an inner frame with the same sandbox. */
function wrapper(csp: string, doc: string, sandbox: string, script = ''): string {
  const inner = `<iframe sandbox="${sandbox}" referrerpolicy="no-referrer" srcdoc="${escapeAttribute(doc)}">`;
  return meta(csp) + WRAPPER_STYLE + inner + '</iframe>' + script;
}

function frame(srcdoc: string, sandbox: string, className: string, height: number): HTMLIFrameElement {
  const element = document.createElement('iframe');
  element.setAttribute('sandbox', sandbox);
  element.setAttribute('referrerpolicy', 'no-referrer');
  element.className = className;
  element.style.height = `${height}px`;
  element.srcdoc = srcdoc;
  return element;
}

/** An HTML artifact: scripts run, in an opaque origin, offline, in a frame that cannot be navigated. */
export function htmlFrame(source: string): HTMLIFrameElement {
  const doc = meta(CSP) + source + REPORT_HEIGHT;
  const outer = wrapper(HTML_WRAPPER_CSP, doc, 'allow-scripts', RELAY_HEIGHT);
  return frame(outer, 'allow-scripts', 'glm-nb-frame glm-nb-html-frame', DEFAULT_HEIGHT);
}

/** An SVG artifact: no scripts at all; the frame's height follows the drawing's own size. */
export function svgFrame(source: string): HTMLIFrameElement {
  const style = '<style>html,body{margin:0;background:transparent}svg{max-width:100%;height:auto}</style>';
  const doc = meta(SVG_CSP) + style + source;
  return frame(wrapper(SVG_WRAPPER_CSP, doc, ''), '', 'glm-nb-frame glm-nb-svg-frame', svgHeight(source));
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
      return Math.min(Math.ceil((box[3] / box[2]) * 480) + 8, MAX_HEIGHT);
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
  private frames: HTMLIFrameElement[] = [];
  private readonly listener = (event: MessageEvent) => this.onMessage(event);

  constructor() {
    window.addEventListener('message', this.listener);
  }

  /** The frames now on screen in `host` (a redraw replaces them all). */
  watch(host: HTMLElement): void {
    this.frames = Array.from(host.querySelectorAll<HTMLIFrameElement>('iframe.glm-nb-html-frame'));
  }

  dispose(): void {
    window.removeEventListener('message', this.listener);
    this.frames = [];
  }

  private onMessage(event: MessageEvent): void {
    const target = this.frames.find(f => f.contentWindow !== null && f.contentWindow === event.source);
    if (!target || typeof event.data !== 'object' || event.data === null) {
      return;
    }
    const height = (event.data as { glmNbFrameHeight?: unknown }).glmNbFrameHeight;
    if (typeof height === 'number' && Number.isFinite(height) && height > 0) {
      target.style.height = `${Math.min(Math.ceil(height) + 4, MAX_HEIGHT)}px`;
    }
  }
}
