// /login: first-admin set-up, e-mail + password, identity providers, the MFA step
// (`/login?mfa=required`, also where an OIDC login with MFA lands; a code or a passkey) and
// the OIDC callback's `?error=` reasons in words.
import {
  api, ApiError, onSubmit, el, pageError, describe, safeReturnPath, passkeysSupported, passkeyAnswer,
} from './common.js';

const OIDC_ERRORS = {
  auth_failed: 'Signing in with the identity provider did not work. Try again.',
  state_invalid: 'That sign-in link expired or was already used. Start again.',
  auto_create_disabled: 'There is no account for this identity here. Ask an administrator to create one.',
  email_required: 'The identity provider did not share a verified e-mail address, which this service needs to find your account.',
  email_unusable: 'The identity provider shared an e-mail address this service cannot accept (malformed, or too long). Ask an administrator.',
  provider_unavailable: 'The identity provider cannot be reached right now. Try again later, or sign in with your password.',
};

const params = new URLSearchParams(window.location.search);

/** Where to go once signed in: `return_to` by the one rule (`safeReturnPath`), else `/`. */
function returnTo() {
  return safeReturnPath(params.get('return_to'));
}

function show(id) {
  for (const section of ['setup', 'signin', 'mfa']) {
    document.getElementById(section).hidden = section !== id;
  }
  const heading = document.querySelector(`#${id} h1`);
  if (heading) document.title = `${heading.textContent} · SlugBase Auth`;
}

/** On to `return_to` — or, for a user the MFA policy holds to enrolment (their grace
 * period is over), to the account page, the only one that works for them. */
function signedIn(user) {
  const held = user && user.mfa_policy_status === 'overdue';
  window.location.assign(held ? '/' : returnTo());
}

/** The second step: it names the account signing in, and offers a passkey only where the
 * account has one and the browser can use it; a code always works. */
async function showMfaStep() {
  show('mfa');
  const passkey = document.getElementById('mfa-passkey');
  passkey.hidden = true;
  document.getElementById('mfa-code').focus();
  let account;
  try {
    account = await api('GET', '/api/auth/mfa/pending');
  } catch {
    return;
  }
  const line = document.getElementById('mfa-account');
  line.textContent = `Signing in as ${account.email}`;
  line.hidden = false;
  passkey.hidden = !(account.passkeys && passkeysSupported());
}

/** Reasons after which the passkey button cannot help: it goes, the code field stays. */
const NO_PASSKEY_HERE = new Set(['NO_PASSKEYS', 'PASSKEYS_UNAVAILABLE', 'PASSKEY_UNSUPPORTED']);

async function loadProviders() {
  let providers = [];
  try {
    providers = await api('GET', '/api/auth/providers');
  } catch {
    return;
  }
  const list = document.getElementById('provider-list');
  list.replaceChildren(...providers.map((p) => {
    const href = `/api/auth/${encodeURIComponent(p.provider_key)}`
      + (returnTo() === '/' ? '' : `?return_to=${encodeURIComponent(returnTo())}`);
    return el('li', {}, el('a', { className: 'button', href }, `Sign in with ${p.display_name}`));
  }));
  document.getElementById('providers').hidden = providers.length === 0;
}

onSubmit(document.getElementById('setup-form'), async (values) => {
  const user = await api('POST', '/api/auth/setup', { name: values.name, email: values.email, password: values.password });
  signedIn(user);
});

// A passkey alone: no e-mail address, no password (the authenticator asks for its PIN or
// biometrics, and offers the passkeys it holds for this site).
const passkeySignIn = document.getElementById('passkey-signin-form');
passkeySignIn.hidden = !passkeysSupported();
onSubmit(passkeySignIn, async () => {
  let user;
  try {
    const answer = await passkeyAnswer('/api/auth/passkeys/sign-in/begin');
    user = await api('POST', '/api/auth/passkeys/sign-in/finish', answer);
  } catch (error) {
    if (error instanceof ApiError && error.reason === 'PASSKEYS_UNAVAILABLE') {
      document.getElementById('signin-passkey').hidden = true;
    }
    throw error;
  }
  signedIn(user);
});

onSubmit(document.getElementById('signin-form'), async (values, form) => {
  const answer = await api('POST', '/api/auth/login', { email: values.email, password: values.password });
  if (answer && answer.mfa_required) {
    form.reset();
    showMfaStep();
    return;
  }
  signedIn(answer);
});

onSubmit(document.getElementById('mfa-form'), async (values, form, submitter) => {
  try {
    const proof = submitter && submitter.dataset.proof === 'passkey'
      ? await passkeyAnswer('/api/auth/mfa/verify/challenge')
      : { code: values.code };
    signedIn(await api('POST', '/api/auth/mfa/verify', proof));
  } catch (error) {
    if (error instanceof ApiError && NO_PASSKEY_HERE.has(error.reason)) {
      document.getElementById('mfa-passkey').hidden = true;
      document.getElementById('mfa-code').focus();
    }
    if (error instanceof ApiError && error.reason === 'MFA_PENDING_INVALID') {
      form.reset();
      show('signin');
      const slot = document.querySelector('#signin-form .form-error');
      slot.textContent = describe(error);
      slot.hidden = false;
      document.getElementById('signin-email').focus();
      return;
    }
    throw error;
  }
}, { INVALID_CODE: 'code' }, {
  // Every proof counts against the same limit, so none skips the wait; but a person whose
  // authenticator's codes keep failing has another way in once it is over.
  wayOut: () => (document.getElementById('mfa-passkey').hidden
    ? 'If your authenticator app\'s codes are not accepted, use one of your backup codes once the wait is over.'
    : 'If your authenticator app\'s codes are not accepted, use your passkey or one of your backup codes once the wait is over.'),
});

async function start() {
  if (params.get('signed_out') === '1') {
    document.getElementById('signed-out').hidden = false;
    // A reload says it no more: the address goes back to plain /login.
    window.history.replaceState(null, '', '/login');
  }
  const error = params.get('error');
  if (error) {
    const slot = document.getElementById('oidc-error');
    slot.textContent = OIDC_ERRORS[error] || 'Signing in did not work. Try again.';
    slot.hidden = false;
  }
  if (params.get('mfa') === 'required') {
    showMfaStep();
    loadProviders();
    return;
  }
  try {
    const setup = await api('GET', '/api/auth/setup/status');
    if (!setup.initialized) {
      show('setup');
      document.getElementById('setup-name').focus();
      return;
    }
  } catch (e) {
    pageError(e);
  }
  // Already signed in: nothing to do here.
  try {
    signedIn(await api('GET', '/api/auth/me'));
    return;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) pageError(e);
  }
  show('signin');
  await loadProviders();
}

start();
