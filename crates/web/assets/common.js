// What every page shares: the JSON API client (cookies + CSRF token), errors shown next to
// their fields, a live region, small DOM helpers. Nothing here writes a secret anywhere but
// into the page: never into a URL, localStorage, sessionStorage or the console.

/** An error answer of the API, in the error shape of docs/api.md. */
export class ApiError extends Error {
  constructor(status, body, retryAfter, limit = null) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.reason = (body && body.reason) || '';
    this.details = (body && Array.isArray(body.details)) ? body.details : [];
    this.retryAfter = retryAfter;
    /** The tightest attempt limit the answer reported (`RateLimit`), or null. */
    this.limit = limit;
  }

  /** A 429 of an account locked until an administrator resets it. */
  get lockedOut() {
    return this.status === 429 && /administrator/i.test(this.message);
  }
}

/**
 * The `RateLimit` field of an answer (draft-ietf-httpapi-ratelimit-headers:
 * `"account";r=7;t=812, "address";r=57;t=812`) as the tightest limit among its items:
 * `{remaining, reset}` (tries left after this request, seconds until its window ends), or
 * null when the request met no limit.
 */
export function rateLimit(value) {
  if (!value) return null;
  let tightest = null;
  for (const item of value.split(',')) {
    const r = /;\s*r=(\d+)/.exec(item);
    const t = /;\s*t=(\d+)/.exec(item);
    if (!r) continue;
    const limit = { remaining: Number(r[1]), reset: t ? Number(t[1]) : 0 };
    if (!tightest || limit.remaining < tightest.remaining
      || (limit.remaining === tightest.remaining && limit.reset > tightest.reset)) tightest = limit;
  }
  return tightest;
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
  return new ApiError(res.status, body, Number.isFinite(retry) ? retry : null, rateLimit(res.headers.get('RateLimit')));
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
  LAST_SECOND_FACTOR: 'This passkey is your only second factor. Turn two-factor authentication off instead, or add another factor first.',
};

/** `seconds` as a clock reads a wait: 4:59, or 1:04:59 past an hour. */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const pad = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** `seconds` in words, rounded up to minutes past one: "45 seconds", "15 minutes". */
function duration(seconds) {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** How long a 429 asks to wait, in seconds. */
function waitOf(error) {
  return Math.max(1, error.retryAfter ?? (error.limit && error.limit.reset) ?? 60);
}

/**
 * After a refused try that counted: how many tries are left, when few are (3 or fewer), in
 * words ("2 tries left before a 15-minute pause."); '' otherwise.
 */
export function triesLeft(error) {
  if (!(error instanceof ApiError) || error.status === 429 || !error.limit) return '';
  const { remaining, reset } = error.limit;
  if (remaining > 3) return '';
  const seconds = Math.max(1, reset);
  const pause = seconds < 60 ? `a pause of ${duration(seconds)}` : `a ${Math.ceil(seconds / 60)}-minute pause`;
  if (remaining === 0) return `No tries left: the next one comes after ${pause}.`;
  return `${remaining} ${remaining === 1 ? 'try' : 'tries'} left before ${pause}.`;
}

/** A sentence for an error that concerns no single field. */
export function describe(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong. Try again.';
  if (error.status === 429) {
    if (error.lockedOut) return 'Too many attempts: this account is locked until an administrator unlocks it. If you are locked out, contact an administrator.';
    return `Too many attempts. Try again in ${clock(waitOf(error))}.`;
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

/** Words for the API's field names where a form has no label for them. */
const FIELD_LABELS = {
  email: 'E-mail address',
  name: 'Name',
  password: 'Password',
  current_password: 'Current password',
  new_password: 'New password',
  code: 'Code',
  credential: 'Passkey',
  ceremony_id: 'Passkey request',
  is_admin: 'Administrator',
  user_id: 'User',
  event: 'Event',
  outcome: 'Outcome',
  since: 'From',
  until: 'Until',
};

/** Whole API messages that read as machine words, in a person's words. */
const MESSAGE_TEXT = {
  'TOTP code is invalid': 'That authenticator code is not right. Check the time on your device and try the newest code.',
  'TOTP or unused backup code is invalid': 'That code is not right: give the newest code of your authenticator app, or a backup code not used before.',
  'Invalid password': 'That password is not right.',
  'until must be after since': 'The last day must not be before the first.',
  'Email is already in use': 'An account with this e-mail address already exists.',
};

/** The label a person reads for field `name` of `form` (its `<label>`, else the table). */
function labelOf(form, name) {
  const input = form && form.elements.namedItem(name);
  const label = input && input.labels && input.labels[0];
  const words = label ? label.textContent.replace(/\s*\([^)]*\)\s*$/, '').trim() : '';
  return words || FIELD_LABELS[name] || '';
}

/**
 * An API `details` message in the field's words: "email is required" becomes "E-mail address
 * is required" (the field's raw name at its start, in any case, swapped for its label); known
 * machine phrasings are reworded; anything else stays as the API said it.
 */
export function fieldMessage(form, field, message) {
  if (MESSAGE_TEXT[message]) return MESSAGE_TEXT[message];
  const label = labelOf(form, field);
  if (!label || typeof message !== 'string') return message;
  for (const raw of new Set([field, field.replaceAll('_', ' ')])) {
    if (message.toLowerCase().startsWith(`${raw.toLowerCase()} `)) return `${label}${message.slice(raw.length)}`;
  }
  return message;
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
  for (const { field, message: raw } of details) {
    const message = fieldMessage(form, field, raw);
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
  // Few tries left (the answer's `RateLimit`): said in the form's own line, with or without
  // a field error beside it.
  const warning = triesLeft(error);
  if (details.length === 0 || leftover.length > 0 || warning) {
    const words = details.length === 0 ? [describe(error)] : leftover;
    const slot = errorSlot(form);
    if (slot) {
      slot.textContent = [...words, warning].filter(Boolean).join(' ');
      slot.hidden = false;
    }
  }
  if (first) first.focus();
}

/** Where `form` says what concerns no single field: its error line, else the page's. */
function errorSlot(form) {
  return form.querySelector('.form-error') || document.getElementById('page-error');
}

/**
 * Runs `handler(values, form, submitter)` on submit with the buttons busy and errors
 * cleared (`submitter`: the button pressed, for forms with two ways to send); an ApiError
 * shows in the form. 401 (the session ended) goes to the sign-in page.
 */
export function onSubmit(form, handler, fieldFor = {}, { wayOut = null } = {}) {
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
      if (error instanceof ApiError && error.status === 429) {
        countDown(form, buttons, error, wayOut ? wayOut() : '');
      } else {
        showErrors(form, error, fieldFor);
      }
    } finally {
      form.removeAttribute('aria-busy');
      for (const b of buttons) if (!b.dataset.held) b.disabled = false;
    }
  });
}

const countdowns = new WeakMap();

/**
 * A 429 in `form`'s error line: "Too many attempts. Try again in 4:59." counting down every
 * second, `buttons` disabled until it reaches 0 and enabled again then; `wayOut` (a way
 * round the wait, e.g. a backup code) and, for a locked account, "contact an administrator"
 * after it. The line is an alert, read once: the ticking clock is hidden from screen
 * readers, which read the wait in minutes instead.
 */
function countDown(form, buttons, error, wayOut) {
  clearInterval(countdowns.get(form));
  clearTimeout(countdowns.get(form));
  const slot = errorSlot(form);
  const end = Date.now() + waitOf(error) * 1000;
  const left = () => Math.max(0, Math.ceil((end - Date.now()) / 1000));
  for (const b of buttons) {
    b.dataset.held = '1';
    b.disabled = true;
  }
  if (!slot || error.lockedOut) {
    // Locked until an administrator resets it: no wait would end this, so no clock (nor a
    // way round it); the buttons still rest for the server's Retry-After.
    if (slot) {
      slot.textContent = describe(error);
      slot.hidden = false;
    }
    countdowns.set(form, setTimeout(() => release(buttons), waitOf(error) * 1000));
    return;
  }
  const ticking = el('span', { className: 'countdown', 'aria-hidden': 'true' }, clock(left()));
  slot.replaceChildren(
    'Too many attempts. Try again in ',
    ticking,
    el('span', { className: 'visually-hidden' }, duration(left())),
    '.',
    wayOut ? ` ${wayOut}` : '',
  );
  slot.hidden = false;
  const timer = setInterval(() => {
    const seconds = left();
    ticking.textContent = clock(seconds);
    if (seconds > 0) return;
    clearInterval(timer);
    countdowns.delete(form);
    release(buttons);
    slot.textContent = 'You can try again now.';
  }, 1000);
  countdowns.set(form, timer);
}

function release(buttons) {
  for (const b of buttons) {
    delete b.dataset.held;
    b.disabled = false;
  }
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
