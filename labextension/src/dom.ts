/** The two element makers every part of the transcript view draws with. */

export function el(tag: string, className: string, text?: string): HTMLElement {
  const element = document.createElement(tag);
  if (className) {
    element.className = className;
  }
  if (text !== undefined) {
    element.textContent = text;
  }
  return element;
}

/** A button whose click stays its own (a click in an output would otherwise select the cell around it). */
export function button(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', `glm-nb-button ${className}`, label) as HTMLButtonElement;
  b.type = 'button';
  b.dataset.label = label;
  b.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return b;
}
