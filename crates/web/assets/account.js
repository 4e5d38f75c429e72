// `/`: the signed-in user's account security — MFA status, enrolment (QR code and key),
// backup codes shown once, regenerate, disable (a password field only for accounts that
// have a password; a code or a passkey), passkeys (add, rename, remove), password change,
// API tokens and sessions. Everything through the JSON
// API. Secrets (the TOTP key, QR code, backup codes, a new token) live only in the page's
// DOM while shown and are removed when the person is done with them.
import {
  api, ApiError, onSubmit, clearErrors, el, cell, timeEl, when, copy, announce, currentUser, setUpHeader,
  pageError, describe, toLogin, passkeysSupported, passkeyAnswer, createPasskey, dismissBanner,
} from './common.js';

const $ = (id) => document.getElementById(id);

let user = null;
let qrUrl = null;
/** The MFA policy holds this account to enrolment (its grace period is over): only the
 * two-factor card is shown, and the API answers everything else 403 until MFA is on. */
let held = false;
let shownCodes = [];
let passkeys = [];

const CODE_FIELDS = { INVALID_CODE: 'code', INVALID_PASSWORD: 'password', PASSWORD_REQUIRED: 'password' };

function dropQr() {
  const img = $('enroll-qr');
  img.hidden = true;
  img.removeAttribute('src');
  if (qrUrl) URL.revokeObjectURL(qrUrl);
  qrUrl = null;
}

/** The API's PNG (a base64 data URL, as SlugBase sends it) as a blob: URL (the key never goes into a URL of its own). */
function qrBlobUrl(qrPng) {
  const base64 = qrPng.replace(/^data:image\/png;base64,/, '');
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
}

function closeEnrollment() {
  dropQr();
  $('enroll-secret').textContent = '';
  $('enroll-form').reset();
  $('enroll').hidden = true;
}

async function refreshMfa() {
  const status = await api('GET', '/api/auth/mfa/status');
  const badge = $('mfa-badge');
  badge.textContent = status.enabled ? 'On' : 'Off';
  badge.className = `badge ${status.enabled ? 'on' : 'off'}`;
  $('mfa-summary').textContent = status.enabled
    ? `Since ${when(status.enrolled_at)} · ${status.backup_codes_remaining} backup code${status.backup_codes_remaining === 1 ? '' : 's'} left`
    : 'Signing in needs only one step.';
  $('mfa-off').hidden = status.enabled || !$('enroll').hidden;
  // While new backup codes are on screen, they are the only thing to do.
  $('mfa-on').hidden = !status.enabled || !$('backup-codes').hidden;
  // The API refuses a covered user's disable (MFA_REQUIRED_BY_POLICY): no form for it.
  $('disable-open').hidden = status.required;
  if (status.required && !$('disable-card').hidden) openMfaForm(null);
  $('disable-locked').hidden = !status.required;
  if (!status.enabled) openMfaForm(null);
  showPolicy(status);
  $('mfa').removeAttribute('aria-busy');
  await refreshPasskeys(status.enabled);
  return status;
}

/** The MFA policy's message: days left in the grace period, or that it is over. */
function showPolicy(status) {
  const notice = $('policy-notice');
  const out = status.required && !status.enabled;
  notice.hidden = !out;
  if (!out) return;
  const end = status.grace_ends_at ? when(status.grace_ends_at) : null;
  const left = status.grace_days_left;
  notice.textContent = status.policy_status === 'overdue'
    ? `Your organisation requires two-factor authentication for this account, and the time to set it up ended${end ? ` on ${end}` : ''}. Set it up below to use your account again: until then, nothing else here works.`
    : `Your organisation requires two-factor authentication for this account. Set it up below${typeof left === 'number' ? ` within ${left} day${left === 1 ? '' : 's'}${end ? ` (by ${end})` : ''}` : ''}; after that, your account can only set it up.`;
}

/** Shows or hides everything but the two-factor card. */
function holdToEnrolment(on) {
  held = on;
  for (const id of ['password', 'tokens', 'sessions']) $(id).hidden = on;
}

/**
 * With MFA on, the card shows its status and two buttons; each opens its own form ('regenerate'
 * or 'disable'), closing the other (a closed form forgets what was typed). `null` closes both.
 */
function openMfaForm(which) {
  for (const name of ['regenerate', 'disable']) {
    const open = name === which;
    const card = $(`${name}-card`);
    if (!open && !card.hidden) {
      $(`${name}-form`).reset();
      clearErrors($(`${name}-form`));
    }
    card.hidden = !open;
    $(`${name}-open`).setAttribute('aria-expanded', String(open));
  }
  if (which) $(`${which}-title`).focus();
}

for (const name of ['regenerate', 'disable']) {
  $(`${name}-open`).addEventListener('click', () => openMfaForm($(`${name}-card`).hidden ? name : null));
  $(`${name}-card`).querySelector('.mfa-cancel').addEventListener('click', () => {
    openMfaForm(null);
    $(`${name}-open`).focus();
  });
}

/** A backup code as people read and copy it: `abcd-ef01-2345-6789` (typed with or without
 * the dashes, it is accepted everywhere a code is). */
function grouped(code) {
  return code.match(/.{1,4}/g).join('-');
}

function showBackupCodes(codes) {
  openMfaForm(null);
  shownCodes = codes.map(grouped);
  $('backup-code-list').replaceChildren(...shownCodes.map((code) => el('li', {}, code)));
  $('backup-codes').hidden = false;
  $('mfa-on').hidden = true;
  $('backup-title').focus();
}

function hideBackupCodes() {
  shownCodes = [];
  $('backup-code-list').replaceChildren();
  $('backup-codes').hidden = true;
}

function backupCodesText() {
  return `SlugBase Auth backup codes for ${user.email}\n`
    + 'Each code can be used once.\n\n'
    + `${shownCodes.join('\n')}\n`;
}

$('enroll-start').addEventListener('click', async () => {
  const button = $('enroll-start');
  const slot = $('enroll-start-error');
  slot.hidden = true;
  button.disabled = true;
  try {
    const enrollment = await api('POST', '/api/auth/mfa/enroll/begin');
    hideBackupCodes();
    dropQr();
    qrUrl = qrBlobUrl(enrollment.qr_png);
    const img = $('enroll-qr');
    img.src = qrUrl;
    img.hidden = false;
    $('enroll-secret').textContent = enrollment.secret.replace(/(.{4})(?=.)/g, '$1 ');
    $('mfa-off').hidden = true;
    $('enroll').hidden = false;
    $('enroll-title').focus();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return toLogin();
    slot.textContent = describe(error);
    slot.hidden = false;
    await refreshMfa().catch(() => {});
  } finally {
    button.disabled = false;
  }
  return undefined;
});

$('enroll-copy').addEventListener('click', () => copy($('enroll-secret').textContent.replace(/\s+/g, ''), 'Key'));

$('enroll-cancel').addEventListener('click', async () => {
  closeEnrollment();
  try {
    await api('POST', '/api/auth/mfa/enroll/cancel');
  } catch {
    // Nothing to undo: a pending key that was not dropped expires with the next set-up.
  }
  await refreshMfa();
  $('enroll-start').focus();
});

onSubmit($('enroll-form'), async (values) => {
  const answer = await api('POST', '/api/auth/mfa/enroll/confirm', { code: values.code });
  closeEnrollment();
  await refreshMfa();
  announce('Two-factor authentication is on.');
  showBackupCodes(answer.backup_codes);
  if (held) {
    // The same session reaches everything now.
    holdToEnrolment(false);
    await Promise.all([refreshTokens(), refreshSessions()]).catch(pageError);
  }
}, CODE_FIELDS);

$('backup-copy').addEventListener('click', () => copy(shownCodes.join('\n'), 'Backup codes'));

$('backup-download').addEventListener('click', () => {
  const url = URL.createObjectURL(new Blob([backupCodesText()], { type: 'text/plain' }));
  const link = el('a', { href: url, download: 'slugbase-backup-codes.txt', hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  announce('Backup codes downloaded.');
});

$('backup-done').addEventListener('click', async () => {
  hideBackupCodes();
  $('mfa-title').focus();
  await refreshMfa().catch(pageError);
});

/**
 * Regenerate, disable and passkey removal: the code, or a passkey's answer when the
 * "Use a passkey" button sent the form; and the password only when the account has one.
 */
async function bothFactors(values, submitter) {
  const proof = submitter && submitter.dataset.proof === 'passkey'
    ? await passkeyAnswer('/api/auth/mfa/challenge')
    : { code: values.code };
  return user.has_password ? { ...proof, password: values.password } : proof;
}

onSubmit($('regenerate-form'), async (values, form, submitter) => {
  const answer = await api('POST', '/api/auth/mfa/backup/regenerate', await bothFactors(values, submitter));
  form.reset();
  await refreshMfa();
  announce('New backup codes made; the old ones no longer work.');
  showBackupCodes(answer.backup_codes);
}, CODE_FIELDS);

onSubmit($('disable-form'), async (values, form, submitter) => {
  await api('POST', '/api/auth/mfa/disable', await bothFactors(values, submitter));
  form.reset();
  hideBackupCodes();
  await refreshMfa();
  await refreshSessions();
  announce('Two-factor authentication is off.');
  $('mfa-title').focus();
}, CODE_FIELDS);

// ---- passkeys: offered whether MFA is on or off (the first one turns it on); each can stand
// in for a code ---------------------------------------------------------------------------

function closePasskeyForms() {
  for (const form of [$('passkey-rename-form'), $('passkey-remove-form')]) {
    form.reset();
    clearErrors(form);
    form.hidden = true;
  }
}

/** Why passkeys cannot be added here, in one sentence (the add form goes). */
function passkeysUnavailable(sentence) {
  $('passkeys-unavailable').textContent = sentence;
  $('passkeys-unavailable').hidden = false;
  $('passkey-add-form').hidden = true;
}

async function refreshPasskeys(enabled) {
  // A caller the MFA policy holds to enrolment may enrol with a first passkey too (its
  // registration is enrolment's, like TOTP's).
  $('passkeys').hidden = false;
  passkeys = [];
  if (!enabled) {
    // MFA off leaves no passkey: adding the first one turns it on.
    $('passkey-table').querySelector('tbody').replaceChildren(
      el('tr', {}, el('td', { colSpan: 4, className: 'empty' }, 'No passkeys yet.')));
  }
  if (enabled) {
    const list = await api('GET', '/api/auth/passkeys');
    passkeys = list.filter((passkey) => passkey.damaged !== true);
    const body = $('passkey-table').querySelector('tbody');
    body.replaceChildren(...(list.length === 0
      ? [el('tr', {}, el('td', { colSpan: 4, className: 'empty' }, 'No passkeys yet.'))]
      : list.map((passkey) => (passkey.damaged === true
        ? el('tr', { className: 'damaged' }, el('td', { colSpan: 4 }, `Damaged passkey ${passkey.id}: ${passkey.problem}`))
        : el('tr', { dataset: { id: passkey.id } },
          cell('Name', passkey.name),
          cell('Added', timeEl(passkey.created_at)),
          cell('Last used', passkey.last_used_at ? timeEl(passkey.last_used_at) : 'Never'),
          el('td', { className: 'actions-cell' },
            el('button', { type: 'button', 'aria-label': `Rename passkey ${passkey.name}`, onclick: () => openPasskeyForm('rename', passkey) }, 'Rename'),
            ' ',
            el('button', { type: 'button', className: 'danger', 'aria-label': `Remove passkey ${passkey.name}`, onclick: () => openPasskeyForm('remove', passkey) }, 'Remove')))))));
  } else {
    closePasskeyForms();
  }
  if (!passkeysSupported()) passkeysUnavailable('This browser cannot use passkeys.');
  const usable = passkeysSupported() && passkeys.length > 0;
  for (const button of document.querySelectorAll('.passkey-proof')) button.hidden = !usable;
}

function openPasskeyForm(which, passkey) {
  closePasskeyForms();
  const form = $(`passkey-${which}-form`);
  form.elements.namedItem('id').value = passkey.id;
  if (which === 'rename') {
    form.elements.namedItem('name').value = passkey.name;
  } else {
    $('passkey-remove-title').textContent = `Remove the passkey “${passkey.name}”`;
    form.querySelector('.account-email').value = user.email;
  }
  form.hidden = false;
  $(`passkey-${which}-title`).focus();
}

for (const button of document.querySelectorAll('#passkeys .form-cancel')) {
  button.addEventListener('click', () => {
    closePasskeyForms();
    $('passkeys-title').focus();
  });
}

onSubmit($('passkey-add-form'), async (values, form) => {
  let begin;
  try {
    begin = await api('POST', '/api/auth/passkeys/register/begin', {});
  } catch (error) {
    if (!(error instanceof ApiError) || error.reason !== 'PASSKEYS_UNAVAILABLE') throw error;
    passkeysUnavailable('Passkeys are not available on this service: it is not reached through a domain name. Your authenticator app still works.');
    $('passkeys-title').focus();
    return;
  }
  const credential = await createPasskey(begin.options);
  const name = values.name.trim();
  const added = await api('POST', '/api/auth/passkeys/register/finish', {
    ceremony_id: begin.ceremony_id, credential, ...(name ? { name } : {}),
  });
  form.reset();
  if (added.backup_codes) {
    // The first passkey turned two-factor authentication on: its codes, shown this once.
    await refreshMfa();
    announce(`Passkey ${added.name} added. Two-factor authentication is on.`);
    showBackupCodes(added.backup_codes);
    if (held) {
      // The same session reaches everything now.
      holdToEnrolment(false);
      await Promise.all([refreshTokens(), refreshSessions()]).catch(pageError);
    }
    return;
  }
  await refreshPasskeys(true);
  announce(`Passkey ${added.name} added.`);
});

onSubmit($('passkey-rename-form'), async (values) => {
  await api('PATCH', `/api/auth/passkeys/${encodeURIComponent(values.id)}`, { name: values.name });
  closePasskeyForms();
  await refreshPasskeys(true);
  announce('Passkey renamed.');
  $('passkeys-title').focus();
});

onSubmit($('passkey-remove-form'), async (values, form, submitter) => {
  await api('POST', `/api/auth/passkeys/${encodeURIComponent(values.id)}/remove`, await bothFactors(values, submitter));
  closePasskeyForms();
  await refreshPasskeys(true);
  announce('Passkey removed.');
  $('passkeys-title').focus();
}, CODE_FIELDS);

onSubmit($('password-form'), async (values, form) => {
  if (values.new_password !== values.repeat_password) {
    throw new ApiError(400, {
      reason: 'VALIDATION_FAILED',
      message: 'The new passwords differ.',
      details: [{ field: 'repeat_password', message: 'Type the same new password twice.' }],
    }, null);
  }
  await api('POST', '/api/auth/password', {
    current_password: values.current_password,
    new_password: values.new_password,
  });
  form.reset();
  await refreshSessions();
  announce('Password changed. Your other sessions were signed out.');
}, { INVALID_PASSWORD: 'current_password' });

async function refreshTokens() {
  const tokens = await api('GET', '/api/tokens');
  const body = $('token-table').querySelector('tbody');
  if (tokens.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 4, className: 'empty' }, 'No tokens yet.')));
    return;
  }
  // A stored token that no longer decodes comes as {id, damaged: true, problem}: shown as
  // such, with nothing to do on it.
  body.replaceChildren(...tokens.map((token) => token.damaged === true
    ? el('tr', { className: 'damaged' }, el('td', { colSpan: 4 }, `Damaged token ${token.id}: ${token.problem}`))
    : el('tr', {},
    cell('Name', token.name),
    cell('Created', timeEl(token.created_at)),
    cell('Last used', token.last_used_at ? timeEl(token.last_used_at) : 'Never'),
    el('td', { className: 'actions-cell' }, el('button', {
      type: 'button',
      className: 'danger',
      'aria-label': `Revoke token ${token.name}`,
      onclick: (event) => revokeToken(event.currentTarget, token),
    }, 'Revoke')))));
}

async function revokeToken(button, token) {
  button.disabled = true;
  $('tokens-error').hidden = true;
  try {
    await api('DELETE', `/api/tokens/${encodeURIComponent(token.id)}`);
    announce(`Token ${token.name} revoked: it no longer works.`);
  } catch (error) {
    dismissBanner();
    $('tokens-error').textContent = describe(error);
    $('tokens-error').hidden = false;
  }
  await refreshTokens();
  $('token-name').focus();
}

onSubmit($('token-form'), async (values, form) => {
  const created = await api('POST', '/api/tokens', { name: values.name });
  form.reset();
  $('new-token-value').textContent = created.token;
  $('new-token').hidden = false;
  $('new-token-title').focus();
  announce(`Token ${created.name || values.name} created. Copy it now: it is shown only once.`);
  await refreshTokens();
});

$('new-token-copy').addEventListener('click', () => copy($('new-token-value').textContent, 'Token'));
$('new-token-done').addEventListener('click', () => {
  $('new-token-value').textContent = '';
  $('new-token').hidden = true;
  $('token-name').focus();
});

/** A short description of a user agent, for the sessions list. */
function device(agent) {
  if (!agent) return 'Unknown device';
  const browser = (/(Firefox|Edg|Chrome|Chromium|Safari)\/[\d.]+/.exec(agent) || [])[1];
  const system = (/(Windows|Android|iPhone|iPad|Mac OS X|Linux)/.exec(agent) || [])[1];
  const names = { Edg: 'Edge', 'Mac OS X': 'macOS' };
  const parts = [browser && (names[browser] || browser), system && (names[system] || system)].filter(Boolean);
  return parts.length ? parts.join(' on ') : agent.slice(0, 60);
}

async function refreshSessions() {
  const sessions = await api('GET', '/api/auth/sessions');
  const body = $('session-table').querySelector('tbody');
  // A stored session that no longer decodes comes as {id, damaged: true, problem}: shown as
  // such, with no button ("Sign out all other sessions" ends it).
  // This browser first, then the others as the API lists them.
  const ordered = [...sessions.filter((s) => s.current), ...sessions.filter((s) => !s.current)];
  body.replaceChildren(...ordered.map((session) => session.damaged === true
    ? el('tr', { className: 'damaged' }, el('td', { colSpan: 5 }, `Damaged session ${session.id || '(no handle)'}: ${session.problem}`))
    : el('tr', {},
    cell('Device', device(session.user_agent), session.current ? el('strong', {}, ' (this browser)') : null),
    cell('Address', session.ip || '—'),
    cell('Signed in', timeEl(session.created_at)),
    cell('Last active', timeEl(session.last_seen_at)),
    el('td', { className: 'actions-cell' }, session.current ? null : el('button', {
      type: 'button',
      'aria-label': `Sign out ${device(session.user_agent)} from ${session.ip || 'an unknown address'}`,
      onclick: (event) => endSession(event.currentTarget, session),
    }, 'Sign out')))));
  $('revoke-others').disabled = sessions.every((s) => s.current);
}

async function endSession(button, session) {
  button.disabled = true;
  $('sessions-error').hidden = true;
  try {
    await api('DELETE', `/api/auth/sessions/${encodeURIComponent(session.id)}`);
    announce('Session signed out.');
  } catch (error) {
    dismissBanner();
    $('sessions-error').textContent = describe(error);
    $('sessions-error').hidden = false;
  }
  await refreshSessions();
}

$('revoke-others').addEventListener('click', async () => {
  const button = $('revoke-others');
  button.disabled = true;
  $('sessions-error').hidden = true;
  try {
    const answer = await api('POST', '/api/auth/sessions/revoke-others');
    announce(`${answer.revoked} other session${answer.revoked === 1 ? '' : 's'} signed out.`);
  } catch (error) {
    dismissBanner();
    $('sessions-error').textContent = describe(error);
    $('sessions-error').hidden = false;
  }
  await refreshSessions();
});

/** An account without a password never gets a password field: the fields are removed. */
function fitToAccount() {
  // For password managers: the account a password field belongs to.
  for (const field of document.querySelectorAll('.account-email')) field.value = user.email;
  if (!user.has_password) {
    for (const field of document.querySelectorAll('[data-password-field]')) field.remove();
    $('password-form').remove();
    $('disable-left-with').textContent = 'identity provider';
    const provider = user.oidc_provider ? ` (${user.oidc_provider})` : '';
    $('no-password').textContent = `You sign in through your identity provider${provider}; this account has no password.`;
    $('no-password').hidden = false;
  } else {
    $('password-form').hidden = false;
  }
  $('password').hidden = false;
}

async function start() {
  user = await currentUser();
  setUpHeader(user);
  fitToAccount();
  if (user.mfa_policy_status === 'overdue') {
    holdToEnrolment(true);
    await refreshMfa();
    $('enroll-start').focus();
    return;
  }
  await Promise.all([refreshMfa(), refreshTokens(), refreshSessions()]);
}

start().catch(pageError);
