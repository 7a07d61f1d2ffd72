/**
 * The commands: "Insert a %%glm cell below" and "Explain this cell with GLM", in the command palette and the
 * notebook's context menu; and the notebook end of the transcripts' "Insert as cell below" buttons.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

import { IInsertCellDetail, INSERT_CELL_EVENT } from './render';
import { canExplain, cellErrorsOf, explainCellSource, explainLanguage } from './transcript';

export namespace CommandIDs {
  export const insertGlmCell = 'glm-nb:insert-glm-cell';
  export const explainCell = 'glm-nb:explain-cell';
}

const CATEGORY = 'GLM';

/** A new code cell below the active one in `panel`, holding `source`, in edit mode with the cursor at its end. */
export function insertCodeBelow(panel: NotebookPanel, source: string): void {
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  if (notebook.activeCell?.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
  }
  const cell = notebook.activeCell;
  if (!cell) {
    return;
  }
  cell.model.sharedModel.setSource(source);
  // Focus after the palette or menu that ran the command has closed and handed the focus back to where it was.
  requestAnimationFrame(() => {
    notebook.mode = 'edit';
    const editor = cell.editor;
    if (editor) {
      const lines = source.split('\n');
      editor.setCursorPosition({ line: lines.length - 1, column: lines[lines.length - 1].length });
      editor.focus();
    }
  });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@glm-nb/labextension:commands',
  description: 'glm-nb commands: insert a %%glm cell, explain a cell.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, palette: ICommandPalette | null) => {
    const { commands } = app;
    const hasNotebook = () => tracker.currentWidget !== null && tracker.currentWidget === app.shell.currentWidget;

    commands.addCommand(CommandIDs.insertGlmCell, {
      label: 'Insert a %%glm cell below',
      caption: 'A new cell below the active one that asks GLM: type your message under %%glm.',
      isEnabled: hasNotebook,
      execute: () => {
        const panel = tracker.currentWidget;
        if (panel) {
          insertCodeBelow(panel, '%%glm\n');
        }
      }
    });

    commands.addCommand(CommandIDs.explainCell, {
      label: 'Explain this cell with GLM',
      caption: "Inserts a %%glm cell below that quotes this cell's source and its error, if it has one.",
      isEnabled: () => hasNotebook() && canExplain(tracker.activeCell?.model.sharedModel.getSource()),
      execute: () => {
        const panel = tracker.currentWidget;
        const cell = tracker.activeCell;
        if (!panel || !cell || !canExplain(cell.model.sharedModel.getSource())) {
          return;
        }
        const model = cell.model;
        const outputs = model.type === 'code' ? (model as any).outputs : null;
        const items: unknown[] = outputs
          ? Array.from({ length: outputs.length }, (_, i) => outputs.get(i).toJSON())
          : [];
        const notebookModel = panel.model;
        const languageInfo = notebookModel?.getMetadata('language_info') as { name?: unknown } | undefined;
        const language = explainLanguage(model.type, notebookModel?.defaultKernelLanguage, languageInfo?.name);
        insertCodeBelow(panel, explainCellSource(model.sharedModel.getSource(), language, cellErrorsOf(items)));
      }
    });

    for (const command of [CommandIDs.insertGlmCell, CommandIDs.explainCell]) {
      palette?.addItem({ command, category: CATEGORY });
    }
    app.contextMenu.addItem({ type: 'separator', selector: '.jp-Notebook .jp-Cell', rank: 40 });
    app.contextMenu.addItem({ command: CommandIDs.insertGlmCell, selector: '.jp-Notebook .jp-Cell', rank: 41 });
    app.contextMenu.addItem({ command: CommandIDs.explainCell, selector: '.jp-Notebook .jp-Cell', rank: 42 });

    // "Insert as cell below" in a transcript: the cell that holds the output gets the new cell under it.
    document.addEventListener(INSERT_CELL_EVENT, event => {
      const target = event.target as Node | null;
      const detail = (event as CustomEvent<IInsertCellDetail>).detail;
      if (!target || !detail || typeof detail.source !== 'string') {
        return;
      }
      let found: { panel: NotebookPanel; index: number } | null = null;
      tracker.forEach(panel => {
        const index = panel.content.widgets.findIndex(cell => cell.node.contains(target));
        if (!found && index >= 0) {
          found = { panel, index };
        }
      });
      if (found) {
        const { panel, index } = found as { panel: NotebookPanel; index: number };
        event.preventDefault();
        panel.content.activeCellIndex = index;
        insertCodeBelow(panel, detail.source);
      }
    });
  }
};

export default plugin;
