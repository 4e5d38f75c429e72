// What every page shares: the JSON API client (cookies + CSRF token), errors shown next to
// their fields, a live region, small DOM helpers. Nothing here writes a secret anywhere but
// into the page: never into a URL, localStorage, sessionStorage or the console.

/** An error answer of the API, in the error shape of docs/api.md. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.reason = (body && body.reason) || '';
    this.details = (body && Array.isArray(body.details)) ? body.details : [];
    this.retryAfter = retryAfter;
  }
}

let csrfToken = null;

async function fetchCsrfToken() {
  const res = await fetch('/api/csrf-token', { credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok) throw await toError(res);
  csrfToken = (await res.json()).csrfToken;
  return csrfToken;
}

async function toError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const retry = Number.parseInt(res.headers.get('Retry-After') || '', 10);
  return new ApiError(res.status, body, Number.isFinite(retry) ? retry : null);
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * One call of the JSON API with the session cookie; unsafe methods carry the CSRF token
 * (fetched once per page, fetched again once if the server calls it stale).
 * Resolves to the parsed body (null when empty); rejects with an ApiError.
 */
export async function api(method, path, body, { retried = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (UNSAFE.has(method)) headers['X-CSRF-Token'] = csrfToken || await fetchCsrfToken();
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, { reason: 'NETWORK', message: 'The service cannot be reached.' }, null);
  }
  if (!res.ok) {
    const error = await toError(res);
    if (error.reason === 'CSRF_INVALID' && !retried) {
      csrfToken = null;
      return api(method, path, body, { retried: true });
    }
    throw error;
  }
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/** Words for the API's reasons that have no field to stand next to. */
const REASON_TEXT = {
  INVALID_CREDENTIALS: 'The e-mail address or the password is not right.',
  MFA_PENDING_INVALID: 'This sign-in step has expired. Sign in again.',
  MFA_NOT_ENABLED: 'Two-factor authentication is not on for this account.',
  MFA_ALREADY_ENABLED: 'Two-factor authentication is already on for this account.',
  MFA_NO_PENDING: 'This set-up has expired. Start it again.',
  MFA_REQUIRED_BY_POLICY: 'Your organisation requires two-factor authentication for this account, so it cannot be turned off.',
  MFA_ENROLLMENT_REQUIRED: 'Your organisation requires two-factor authentication for this account: set it up on your account page first.',
  PASSWORD_NOT_SET: 'This account signs in through an identity provider and has no password.',
  REAUTH_REQUIRED: 'Sign in again to do this.',
  FORBIDDEN: 'Only administrators can do this.',
  CANNOT_DELETE_SELF: 'You cannot delete your own account here.',
  USER_NOT_FOUND: 'That user no longer exists.',
  NOT_FOUND: 'That item no longer exists.',
  CSRF_INVALID: 'The page went stale. Reload it and try again.',
  NETWORK: 'The service cannot be reached. Check the connection and try again.',
  SERVICE_UNAVAILABLE: 'The service is unavailable right now. Try again in a moment.',
  PASSKEYS_UNAVAILABLE: 'Passkeys are not available on this service.',
  NO_PASSKEYS: 'This account has no passkey. Use a code instead.',
  INVALID_PASSKEY: 'That passkey was not accepted. Try again, or use a code.',
  PASSKEY_CANCELLED: 'The passkey was not used: the request was cancelled or timed out.',
  PASSKEY_UNSUPPORTED: 'This browser cannot use passkeys.',
  PASSKEY_CEREMONY_INVALID: 'That passkey request expired. Try again.',
  PASSKEY_REJECTED: 'The passkey could not be verified. Try again.',
  PASSKEY_ALREADY_REGISTERED: 'This passkey is already registered.',
  PASSKEY_LIMIT_REACHED: 'This account has the most passkeys it can have. Remove one first.',
};

/** A sentence for an error that concerns no single field. */
export function describe(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
  if (error.status === 429) {
    const seconds = error.retryAfter ?? 60;
    const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString();
    return `Too many attempts. Try again in ${seconds} second${seconds === 1 ? '' : 's'} (at ${at}).`;
  }
  if (REASON_TEXT[error.reason]) return REASON_TEXT[error.reason];
  if (error.status >= 500) return REASON_TEXT.SERVICE_UNAVAILABLE;
  return error.message || 'The request was refused.';
}

/** Whether this browser can create and use passkeys from the API's JSON options. */
export function passkeysSupported() {
  const pkc = window.PublicKeyCredential;
  return typeof pkc === 'function' && typeof pkc.parseCreationOptionsFromJSON === 'function'
    && typeof pkc.parseRequestOptionsFromJSON === 'function' && window.isSecureContext;
}

/** The authenticator's refusal (or none) as an ApiError, so that forms show it like any other. */
function passkeyError(error) {
  const reason = error && error.name === 'InvalidStateError' ? 'PASSKEY_ALREADY_REGISTERED' : 'PASSKEY_CANCELLED';
  return new ApiError(0, { reason, message: REASON_TEXT[reason] }, null);
}

function unsupported() {
  return new ApiError(0, { reason: 'PASSKEY_UNSUPPORTED', message: REASON_TEXT.PASSKEY_UNSUPPORTED }, null);
}

/**
 * A passkey's answer to a challenge of `challengePath` (`/api/auth/mfa/challenge` or
 * `/api/auth/mfa/verify/challenge`): `{ceremony_id, credential}`, to send in place of a code.
 */
export async function passkeyAnswer(challengePath) {
  if (!passkeysSupported()) throw unsupported();
  const { ceremony_id: ceremonyId, options } = await api('POST', challengePath, {});
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
  let credential;
  try {
    credential = await navigator.credentials.get({ publicKey });
  } catch (error) {
    throw passkeyError(error);
  }
  if (!credential) throw passkeyError(null);
  return { ceremony_id: ceremonyId, credential: credential.toJSON() };
}

/** A new passkey from the API's creation options: the credential as JSON. */
export async function createPasskey(options) {
  if (!passkeysSupported()) throw unsupported();
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
  let credential;
  try {
    credential = await navigator.credentials.create({ publicKey });
  } catch (error) {
    throw passkeyError(error);
  }
  if (!credential) throw passkeyError(null);
  return credential.toJSON();
}

/** Clears the errors shown in `form`. */
export function clearErrors(form) {
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const p of form.querySelectorAll('.field-error, .form-error')) {
    p.textContent = '';
    p.hidden = true;
  }
}

/**
 * Shows `error` in `form`: each of the API's `details` under its field (found by name),
 * the rest in the form's own error line. `fieldFor` names a field for reasons that carry
 * no details (e.g. `{ INVALID_PASSWORD: 'password' }`).
 */
export function showErrors(form, error, fieldFor = {}) {
  const details = error instanceof ApiError ? [...error.details] : [];
  if (details.length === 0 && error instanceof ApiError && fieldFor[error.reason]) {
    details.push({ field: fieldFor[error.reason], message: error.message });
  }
  const leftover = [];
  // The first invalid field in the form's order (not the API's), so that the focus lands
  // where a person reading from the top expects it.
  let first = null;
  const precedes = (a, b) => Boolean(b.compareDocumentPosition(a) & Node.DOCUMENT_POSITION_PRECEDING);
  for (const { field, message } of details) {
    const input = form.elements.namedItem(field);
    const slot = input && input.id ? document.getElementById(`${input.id}-error`) : null;
    if (!slot) {
      leftover.push(message);
      continue;
    }
    input.setAttribute('aria-invalid', 'true');
    slot.textContent = message;
    slot.hidden = false;
    if (!first || precedes(input, first)) first = input;
  }
  const formError = form.querySelector('.form-error');
  if (details.length === 0 || leftover.length > 0) {
    const text = details.length === 0 ? describe(error) : leftover.join(' ');
    if (formError) {
      formError.textContent = text;
      formError.hidden = false;
    } else {
      const slot = document.getElementById('page-error');
      if (slot) {
        slot.textContent = text;
        slot.hidden = false;
      }
    }
  }
  if (first) first.focus();
}

/**
 * Runs `handler(values, form, submitter)` on submit with the buttons busy and errors
 * cleared (`submitter`: the button pressed, for forms with two ways to send); an ApiError
 * shows in the form. 401 (the session ended) goes to the sign-in page.
 */
export function onSubmit(form, handler, fieldFor = {}) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    dismissBanner();
    clearErrors(form);
    const buttons = [...form.querySelectorAll('button')];
    for (const b of buttons) b.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      await handler(formValues(form), form, event.submitter || null);
    } catch (error) {
      if (error instanceof ApiError && error.reason === 'UNAUTHENTICATED') {
        toLogin();
        return;
      }
      showErrors(form, error, fieldFor);
      if (error instanceof ApiError && error.status === 429) holdButtons(buttons, error.retryAfter ?? 60);
    } finally {
      form.removeAttribute('aria-busy');
      for (const b of buttons) if (!b.dataset.held) b.disabled = false;
    }
  });
}

/** Keeps `buttons` disabled for `seconds` (a 429's Retry-After). */
function holdButtons(buttons, seconds) {
  for (const b of buttons) {
    b.dataset.held = '1';
    b.disabled = true;
  }
  setTimeout(() => {
    for (const b of buttons) {
      delete b.dataset.held;
      b.disabled = false;
    }
  }, seconds * 1000);
}

/** The form's named fields as an object: strings, checkboxes as booleans. */
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    values[element.name] = element.type === 'checkbox' ? element.checked : element.value;
  }
  return values;
}

let bannerTimer = null;

/**
 * Says that an action worked: `text` in the page's status banner (fixed at the foot of the
 * window, so it is seen wherever the action was), which is also its polite live region
 * (`role=status`) for screen readers. It stays until dismissed, or until the next form is
 * sent (so it never stands beside that form's error). `kind` 'warn' is for advice (copying
 * refused); errors never come here: they keep their own alert places.
 */
export function announce(text, kind = 'ok') {
  const region = document.getElementById('live');
  const banner = document.getElementById('banner');
  if (!region || !banner) return;
  clearTimeout(bannerTimer);
  region.textContent = '';
  banner.classList.toggle('warn', kind === 'warn');
  banner.classList.remove('visually-hidden');
  document.body.classList.add('has-banner');
  document.getElementById('banner-close').hidden = false;
  // A new text node after a tick, so screen readers announce a repeated message too.
  bannerTimer = setTimeout(() => { region.textContent = text; }, 50);
}

/** Takes the status banner away (its region stays, empty, for the next message). */
export function dismissBanner() {
  const region = document.getElementById('live');
  const banner = document.getElementById('banner');
  if (!region || !banner) return;
  clearTimeout(bannerTimer);
  const close = document.getElementById('banner-close');
  const hadFocus = document.activeElement === close;
  region.textContent = '';
  banner.classList.add('visually-hidden');
  document.body.classList.remove('has-banner');
  close.hidden = true;
  if (hadFocus) document.getElementById('main')?.focus();
}

document.getElementById('banner-close')?.addEventListener('click', dismissBanner);
document.addEventListener('keydown', (event) => {
  const banner = document.getElementById('banner');
  if (event.key === 'Escape' && banner && banner.contains(document.activeElement)) dismissBanner();
});

/** Builds an element: `el('td', { className: 'x' }, 'text', child)`. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'className') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table cell that names its column (`data-label`), for the stacked layout of narrow screens. */
export function cell(label, ...children) {
  return el('td', { dataset: { label } }, ...children);
}

/** A date and time in the reader's locale, or a dash. */
export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '—' : date.toLocaleString();
}

/** A `<time>` element for `iso`. */
export function timeEl(iso) {
  return iso ? el('time', { datetime: iso }, when(iso)) : el('span', {}, '—');
}

/** Copies `text` to the clipboard and says so. */
export async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    announce(`${what} copied to the clipboard.`);
  } catch {
    announce(`Copying is not allowed here: select the ${what.toLowerCase()} and copy it by hand.`, 'warn');
  }
}

/**
 * Where to go after signing in, by the server's rule (`ReturnTo` in the domain crate):
 * `raw` is resolved against this origin exactly as the browser resolves a URL (dot
 * segments removed, `\` read as `/`, tabs and newlines dropped) and kept only if the
 * result is on this origin with a path that starts with one `/` followed by neither `/`
 * nor `\`. The *resolved* path, query and fragment come back, never `raw` itself;
 * anything else is `/`.
 */
export function safeReturnPath(raw) {
  // At most 512 bytes as sent (UTF-8), as on the server.
  if (typeof raw !== 'string' || new TextEncoder().encode(raw).length > 512) return '/';
  const origin = window.location.origin;
  let url;
  try {
    url = new URL(raw, `${origin}/`);
  } catch {
    return '/';
  }
  if (url.origin !== origin) return '/';
  const path = url.pathname;
  if (!path.startsWith('/') || path[1] === '/' || path[1] === '\\') return '/';
  return `${path}${url.search}${url.hash}`;
}

/** The sign-in page, coming back here afterwards. */
export function toLogin() {
  const here = safeReturnPath(window.location.pathname);
  const target = here === '/' ? '/login' : `/login?return_to=${encodeURIComponent(here)}`;
  window.location.replace(target);
}

/** The signed-in user, or off to the sign-in page. */
export async function currentUser() {
  try {
    return await api('GET', '/api/auth/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      toLogin();
      return new Promise(() => {});
    }
    throw error;
  }
}

/** Fills the header of a signed-in page: who, the admin link, sign out. */
export function setUpHeader(user) {
  const who = document.getElementById('who');
  if (who) who.textContent = user.email;
  const adminLink = document.getElementById('admin-link');
  if (adminLink) adminLink.hidden = !user.is_admin;
  const signOut = document.getElementById('sign-out');
  if (signOut) {
    signOut.hidden = false;
    signOut.addEventListener('click', async () => {
      signOut.disabled = true;
      let done = false;
      try {
        await api('POST', '/api/auth/logout');
        done = true;
      } finally {
        // The sign-in page says "You are signed out" only when the service said so.
        window.location.assign(done ? '/login?signed_out=1' : '/login');
      }
    });
  }
}

/** Shows a page-level error (the page could not load). */
export function pageError(error) {
  const slot = document.getElementById('page-error');
  if (!slot) return;
  slot.textContent = describe(error);
  slot.hidden = false;
}
