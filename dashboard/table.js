// A listing paged, filtered and sorted by the server (`?page=&page_size=&name=&use_regex=&sort=
// &sort_reverse=`, answered as `{items, page, page_count, filtered_count, total_count}`). A route
// that still answers a plain array is paged here instead, so every page works against any broker.
import { get } from './api.js';
import { field, formatNumber, h, input, select } from './dom.js';

const pageSizes = ['20', '100', '500'];

function fieldOf(row, key) {
  return key.split('.').reduce((value, part) => value?.[part], row);
}

/** The paged shape from a plain array: what the server does for the paged routes. */
function pageLocally(rows, query, nameKey) {
  let test = () => true;
  if (query.name !== '') {
    if (query.use_regex) {
      const re = new RegExp(query.name);
      test = (row) => re.test(String(row[nameKey] ?? ''));
    } else test = (row) => String(row[nameKey] ?? '').includes(query.name);
  }
  const filtered = rows.filter(test);
  if (query.sort !== '') {
    filtered.sort((a, b) => {
      const x = fieldOf(a, query.sort);
      const y = fieldOf(b, query.sort);
      return (x > y) - (x < y);
    });
    if (query.sort_reverse) filtered.reverse();
  }
  const pageCount = Math.max(1, Math.ceil(filtered.length / query.page_size));
  const page = Math.min(query.page, pageCount);
  return {
    items: filtered.slice((page - 1) * query.page_size, page * query.page_size),
    page,
    page_count: pageCount,
    filtered_count: filtered.length,
    total_count: rows.length,
  };
}

function queryString(query) {
  const params = new URLSearchParams({
    page: String(query.page),
    page_size: String(query.page_size),
    name: query.name,
    use_regex: String(query.use_regex),
  });
  if (query.sort !== '') {
    params.set('sort', query.sort);
    params.set('sort_reverse', String(query.sort_reverse));
  }
  return params.toString();
}

/** The filter and page controls of a listing; they change `query` and call `refresh`. */
function pagerForm(label, query, refresh, pageInput, summary) {
  const filter = input('name', { type: 'search', value: '' });
  const regex = input('use_regex', { type: 'checkbox' });
  const size = select('page_size', pageSizes, String(query.page_size));
  const apply = (event) => {
    event.preventDefault();
    query.name = filter.value;
    query.use_regex = regex.checked;
    query.page_size = Number(size.value);
    query.page = Math.max(1, Number(pageInput.value) || 1);
    refresh().catch(report);
  };
  const step = (delta) => () => {
    query.page = Math.min(Number(pageInput.max) || query.page + 1, Math.max(1, query.page + delta));
    refresh().catch(report);
  };
  return h(
    'form',
    { class: 'pager', role: 'search', 'aria-label': `Filter ${label}`, onsubmit: apply },
    field('Filter by name', filter),
    h('label', { class: 'inline' }, regex, 'Regular expression'),
    field('Per page', size),
    field('Page', pageInput),
    h('button', { type: 'submit' }, 'Apply'),
    h('button', { type: 'button', class: 'secondary', onclick: step(-1) }, 'Previous page'),
    h('button', { type: 'button', class: 'secondary', onclick: step(1) }, 'Next page'),
    summary,
  );
}

/**
 * `columns`: [{key, label, num, render(row)}]; `actions(row, refresh)`: controls for a row.
 * Returns the section element and a `refresh` that reloads the current page.
 */
export function listing({ label, url, columns, actions, pageSize = 100, nameKey = 'name' }) {
  const query = { page: 1, page_size: pageSize, name: '', use_regex: false, sort: '', sort_reverse: false };
  const body = h('tbody');
  const summary = h('span', { 'aria-live': 'polite' });
  const pageInput = input('page', { type: 'number', min: 1, value: 1, size: 4 });
  const head = h('tr');
  const table = h('table', {}, h('caption', { class: 'skip' }, label), h('thead', {}, head), body);
  const header = () => {
    head.replaceChildren(
      ...columns.map((column) => {
        const sorted = query.sort === column.key;
        const order = sorted ? (query.sort_reverse ? 'descending' : 'ascending') : 'none';
        const arrow = sorted ? (query.sort_reverse ? ' ▼' : ' ▲') : '';
        return h(
          'th',
          { scope: 'col', class: column.num ? 'num' : undefined, 'aria-sort': order },
          column.sortable === false
            ? column.label
            : h('button', { type: 'button', onclick: () => sortBy(column.key) }, column.label + arrow),
        );
      }),
      actions === undefined ? '' : h('th', { scope: 'col' }, 'Actions'),
    );
  };
  const sortBy = (key) => {
    query.sort_reverse = query.sort === key ? !query.sort_reverse : false;
    query.sort = key;
    refresh();
  };
  async function refresh() {
    const answer = await get(`${url}?${queryString(query)}`);
    const paged = Array.isArray(answer) ? pageLocally(answer, query, nameKey) : answer;
    query.page = paged.page;
    // An empty listing has page_count 0 (RabbitMQ's answer); as the field's maximum it would put page 1
    // out of range, and the browser would refuse every later Apply.
    const pageCount = Math.max(1, paged.page_count);
    pageInput.value = String(paged.page);
    pageInput.max = String(pageCount);
    header();
    body.replaceChildren(
      ...paged.items.map((row) =>
        h(
          'tr',
          {},
          columns.map((column) =>
            h(
              'td',
              { class: column.num ? 'num' : undefined },
              column.render ? column.render(row) : formatNumber(fieldOf(row, column.key)),
            ),
          ),
          actions === undefined ? '' : h('td', {}, actions(row, refresh)),
        ),
      ),
    );
    if (paged.items.length === 0) body.append(h('tr', {}, h('td', { colspan: columns.length + 1 }, 'None')));
    summary.textContent = `Page ${paged.page} of ${pageCount} · ${formatNumber(paged.filtered_count)} shown of ${formatNumber(paged.total_count ?? paged.filtered_count)}`;
  }
  const controls = pagerForm(label, query, refresh, pageInput, summary);
  header();
  return { element: h('section', { 'aria-label': label }, controls, table), refresh };
}

/** Errors go to the page's status line (a live region). */
export function report(error) {
  if (error?.status === 401) {
    window.dispatchEvent(new Event('switchyard:logged-out'));
    return;
  }
  showError(error);
}

/** An error in the status line, as it is (the login form's own refusal among them). */
export function showError(error) {
  const status = document.getElementById('status');
  status.className = 'error';
  status.textContent = error?.message ?? String(error);
}

export function notice(text) {
  const status = document.getElementById('status');
  status.className = '';
  status.textContent = text;
}
