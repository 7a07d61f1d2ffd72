/**
 * The MIME renderer for `application/vnd.glm-nb.transcript+json`: what a `%%glm` cell, `glm_nb.last()` or an
 * exported chat displays. It draws from the saved record alone, so a notebook reopened with no kernel shows its
 * transcripts as they were. While a reply streams the kernel updates the output in place and this redraws it.
 *
 * `safe: true`: JupyterLab uses it in untrusted notebooks too. That holds because nothing in the record is trusted:
 * markdown goes through JupyterLab's sanitizer, everything else is a text node, artifacts are in sandboxed frames.
 */

import { renderMarkdown } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { FrameSizer } from './frames';
import { renderTranscript } from './render';
import { MIME_TYPE } from './transcript';

export class TranscriptRenderer extends Widget implements IRenderMime.IRenderer {
  private readonly options: IRenderMime.IRendererOptions;
  private readonly sizer = new FrameSizer();
  private generation = 0; // of the newest update asked for
  private shown = 0; // of the update on screen

  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this.options = options;
    this.addClass('glm-nb-lab');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const generation = ++this.generation;
    const markdown = (host: HTMLElement, source: string) =>
      renderMarkdown({
        host,
        source,
        trusted: false, // model text is never trusted: always sanitized
        sanitizer: this.options.sanitizer,
        resolver: null,
        linkHandler: null,
        shouldTypeset: false,
        latexTypesetter: null,
        markdownParser: this.options.markdownParser ?? null,
        translator: this.options.translator
      });
    let content: HTMLElement;
    try {
      content = await renderTranscript(model.data[MIME_TYPE], markdown);
    } catch (error) {
      content = document.createElement('div');
      content.className = 'glm-nb-note';
      content.textContent = `glm-nb could not draw this transcript: ${(error as Error).message}`;
    }
    if (generation < this.shown || this.isDisposed) {
      return; // a newer update of the same output is on screen already
    }
    this.shown = generation;
    this.node.replaceChildren(content);
    this.sizer.watch(content);
  }

  dispose(): void {
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
