// The dashboard shell: the login form, the session, and a page per `#/…` route.
import { ApiError, api, get, setCsrf } from './api.js';
import { field, h, input } from './dom.js';
import { overviewPage } from './overview.js';
import { pages } from './pages.js';
import { notice, report, showError } from './table.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const logoutButton = document.getElementById('logout');
let stopPage = () => {};

function showUser(user) {
  const loggedIn = user !== undefined;
  nav.hidden = !loggedIn;
  logoutButton.hidden = !loggedIn;
  who.textContent = loggedIn ? `${user.name} (${user.tags.join(', ') || 'no tags'})` : '';
}

function loginPage() {
  showUser(undefined);
  const user = input('username', { autocomplete: 'username', required: true });
  const password = input('password', { type: 'password', autocomplete: 'current-password', required: true });
  const form = h(
    'form',
    {
      class: 'login',
      'aria-label': 'Log in',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const answer = await api('POST', '/api/login', { username: user.value, password: password.value });
          setCsrf(answer.csrf_token);
          notice('');
          showUser(answer);
          if (location.hash === '' || location.hash === '#/login') location.hash = '#/overview';
          else route();
        } catch (error) {
          showError(error);
          password.focus();
        }
      },
    },
    field('User name', user),
    field('Password', password),
    h('button', { type: 'submit' }, 'Log in'),
  );
  main.replaceChildren(h('h1', {}, 'Log in to Switchyard'), form);
  user.focus();
}

async function route() {
  stopPage();
  stopPage = () => {};
  const [name = 'overview', ...rest] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === `#/${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  try {
    if (name === 'overview' || name === '') stopPage = overviewPage(main);
    else if (pages[name] !== undefined) await pages[name](main, ...rest);
    else main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, `No page ${name}.`));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) loginPage();
    else report(error);
  }
}

logoutButton.addEventListener('click', async () => {
  await api('POST', '/api/logout').catch(() => undefined);
  setCsrf('');
  stopPage();
  loginPage();
});

// A page that lost its session (expired, user changed) goes back to the login form.
window.addEventListener('unhandledrejection', (event) => {
  if (event.reason instanceof ApiError && event.reason.status === 401) loginPage();
  else report(event.reason);
});
window.addEventListener('switchyard:logged-out', () => {
  stopPage();
  loginPage();
});
window.addEventListener('hashchange', () => {
  notice('');
  route().then(() => main.focus({ preventScroll: true }));
});

try {
  const session = await get('/api/session');
  setCsrf(session.csrf_token);
  showUser(session);
  await route();
} catch {
  loginPage();
}
