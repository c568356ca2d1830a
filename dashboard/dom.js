// Elements are built, never parsed from strings: names and payloads from the broker are text, not HTML.
export function h(tag, attributes = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false || value === null) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A labelled form control: `<label>Text <input name=…></label>`. */
export function field(label, control) {
  return h('label', {}, label, control);
}

export function input(name, attributes = {}) {
  return h('input', { name, id: undefined, ...attributes });
}

export function select(name, options, selected) {
  return h(
    'select',
    { name },
    options.map((option) => h('option', { value: option, selected: option === selected }, option)),
  );
}

export function formatNumber(value) {
  if (typeof value !== 'number') return value ?? '';
  return Number.isInteger(value) ? value.toLocaleString('en') : value.toFixed(1);
}
