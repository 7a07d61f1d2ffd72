/**
 * The screen of a transcript as blocks, so that an update redraws only what changed (render.ts, `TranscriptView`):
 * a spec says what each block should be, `reconcile` compares the specs with the blocks drawn and replaces only those
 * that differ, keeping the rest as the same nodes.
 */

import { MarkdownRenderer } from './markdown.js';

/**
 * What one block of the screen should be. A leaf is drawn by `make` and kept while its `key` (everything it is
 * drawn from) stays the same. A container (`children` set) is a shell kept while its `key` (its kind) stays the
 * same, its children compared in turn. `update`, where set, brings a kept block's node up to date with what its
 * key leaves out (a label, a default state), so that it need not be drawn again for them.
 */
export interface ISpec {
  key: string;
  make: (markdown: MarkdownRenderer, pending: Promise<void>[]) => HTMLElement;
  children?: ISpec[];
  update?: (node: HTMLElement) => void;
}

/** A block on screen: the spec's key, its node, and a container's children. */
export interface IDrawn {
  key: string;
  node: HTMLElement;
  children?: IDrawn[];
}

export function leaf(key: string, make: ISpec['make']): ISpec {
  return { key, make };
}

/**
 * Compares `specs` with the blocks `old` drawn in `parent`, builds the blocks that changed (their markdown adds to
 * `pending`) and returns what will be on screen and `commit`, which puts the new blocks in place of the old ones.
 * Nothing on screen changes before `commit`; a kept block's node never leaves the page (an iframe taken out and put
 * back would reload).
 */
export function reconcile(
  parent: HTMLElement,
  old: IDrawn[],
  specs: ISpec[],
  markdown: MarkdownRenderer,
  pending: Promise<void>[]
): { drawn: IDrawn[]; commit: () => void } {
  const drawn: IDrawn[] = [];
  const steps: (() => void)[] = [];
  specs.forEach((spec, index) => {
    const before = old[index];
    if (before && before.key === spec.key) {
      const update = spec.update;
      if (update) {
        steps.push(() => update(before.node));
      }
      if (spec.children) {
        const inner = reconcile(before.node, before.children ?? [], spec.children, markdown, pending);
        drawn.push({ key: spec.key, node: before.node, children: inner.drawn });
        steps.push(inner.commit);
      } else {
        drawn.push(before);
      }
      return;
    }
    const fresh = build(spec, markdown, pending);
    drawn.push(fresh);
    steps.push(() => {
      if (before) {
        carryOpenState(before.node, fresh.node);
        before.node.replaceWith(fresh.node);
      } else {
        parent.appendChild(fresh.node);
      }
    });
  });
  for (const gone of old.slice(specs.length)) {
    steps.push(() => gone.node.remove());
  }
  return { drawn, commit: () => steps.forEach(step => step()) };
}

function build(spec: ISpec, markdown: MarkdownRenderer, pending: Promise<void>[]): IDrawn {
  const node = spec.make(markdown, pending);
  const children = spec.children?.map(child => build(child, markdown, pending));
  children?.forEach(child => node.appendChild(child.node));
  return { key: spec.key, node, children };
}

/**
 * A block redrawn with new content keeps the open or closed state the user gave its `<details>` (thinking, a tool's
 * result, an artifact's source), matched by class and order; one the user left alone takes its new default.
 */
function carryOpenState(from: HTMLElement, to: HTMLElement): void {
  const before = detailsIn(from);
  const after = detailsIn(to);
  for (const [name, olds] of before) {
    const news = after.get(name) ?? [];
    olds.forEach((old, index) => {
      if (news[index] && old.open !== (old.dataset.defaultOpen === 'true')) {
        news[index].open = old.open;
      }
    });
  }
}

function detailsIn(node: HTMLElement): Map<string, HTMLDetailsElement[]> {
  const all = Array.from(node.querySelectorAll<HTMLDetailsElement>('details'));
  if (node instanceof HTMLDetailsElement) {
    all.unshift(node);
  }
  const byClass = new Map<string, HTMLDetailsElement[]>();
  for (const details of all) {
    byClass.set(details.className, [...(byClass.get(details.className) ?? []), details]);
  }
  return byClass;
}

/** A `<details>` whose default state is remembered, so a redraw can tell whether the user changed it. */
export function details(className: string, summary: string, open: boolean): HTMLDetailsElement {
  const box = document.createElement('details');
  box.className = className;
  box.open = open;
  box.dataset.defaultOpen = String(open);
  const label = document.createElement('summary');
  label.textContent = summary;
  box.appendChild(label);
  return box;
}

/** Gives a kept `<details>` a new default state, which it takes unless the user opened or closed it. */
export function setDefaultOpen(box: HTMLDetailsElement, open: boolean): void {
  if (box.open === (box.dataset.defaultOpen === 'true')) {
    box.open = open;
  }
  box.dataset.defaultOpen = String(open);
}
