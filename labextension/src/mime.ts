/**
 * The MIME renderer for `application/vnd.glm-nb.transcript+json`: what a `%%glm` cell, `glm_nb.last()` or an
 * exported chat displays. It draws from the saved record alone, so a notebook reopened with no kernel shows its
 * transcripts as they were. While a reply streams the kernel updates the output in place and this redraws what
 * changed (render.ts, `TranscriptView`).
 *
 * `safe: true`: JupyterLab uses it in untrusted notebooks too. That holds because nothing in the record is trusted:
 * markdown goes through JupyterLab's sanitizer, everything else is a text node, artifacts are in sandboxed frames.
 */

import { renderMarkdown } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { FrameSizer } from './frames';
import { sameJson } from './json';
import { MarkdownRenderer } from './markdown';
import { TranscriptView } from './render';
import { MIME_TYPE, STALE_AFTER_S, staleNote, streamState } from './transcript';

export class TranscriptRenderer extends Widget implements IRenderMime.IRenderer {
  private readonly sizer = new FrameSizer();
  private readonly view: TranscriptView;
  private data: unknown = null; // the newest record asked for
  private changes = 0; // records that differed from the one before (the same record drawn again is no change)
  private changedAt = 0; // when the last of them came (Date.now())
  private generation = 0; // of the newest draw asked for
  private drawing: Promise<void> | null = null;
  private staleTimer = 0;

  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('glm-nb-lab');
    const markdown: MarkdownRenderer = (host, source) =>
      renderMarkdown({
        host,
        source,
        trusted: false, // model text is never trusted: always sanitized
        sanitizer: options.sanitizer,
        resolver: null,
        linkHandler: null,
        shouldTypeset: false,
        latexTypesetter: null,
        markdownParser: options.markdownParser ?? null,
        translator: options.translator
      });
    this.view = new TranscriptView(markdown);
    this.node.appendChild(this.view.node);
    this.sizer.watch(this.view.node);
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[MIME_TYPE];
    if (this.changes === 0 || !sameJson(data, this.data)) {
      this.changes += 1;
      this.changedAt = Date.now();
    }
    this.data = data;
    window.clearTimeout(this.staleTimer);
    if (streamState(data).streaming) {
      // no update for a while: draw the footer again, now saying this reply may never end here
      this.staleTimer = window.setTimeout(() => void this.draw(), STALE_AFTER_S * 1000 + 100);
    }
    await this.draw();
  }

  /** Draws the newest record once the draw in progress has ended; a draw overtaken while it waited is skipped. */
  private async draw(): Promise<void> {
    const generation = ++this.generation;
    while (this.drawing) {
      await this.drawing;
    }
    if (generation !== this.generation || this.isDisposed) {
      return;
    }
    this.drawing = this.drawNow().finally(() => (this.drawing = null));
    await this.drawing;
  }

  private async drawNow(): Promise<void> {
    const { streaming, updatedAt } = streamState(this.data);
    const now = Date.now();
    // the kernel's stamp counts only for the first record: once records change here, they are live
    const savedAgoS = this.changes === 1 && updatedAt !== null ? now / 1000 - updatedAt : null;
    const stale = streaming ? staleNote((now - this.changedAt) / 1000, savedAgoS) : null;
    try {
      await this.view.update(this.data, stale);
    } catch (error) {
      this.view.showError(`glm-nb could not draw this transcript: ${(error as Error).message}`);
    }
  }

  dispose(): void {
    window.clearTimeout(this.staleTimer);
    this.sizer.dispose();
    super.dispose();
  }
}

export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  defaultRank: 10, // ahead of the text/html and text/markdown fallbacks in the same bundle
  createRenderer: options => new TranscriptRenderer(options)
};

const extension: IRenderMime.IExtension = {
  id: '@glm-nb/labextension:transcript',
  description: 'Renders glm-nb transcripts: chat bubbles, thinking, tool cards, sandboxed artifacts.',
  rendererFactory,
  rank: 10,
  dataType: 'json'
};

export default extension;
