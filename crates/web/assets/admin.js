// `/admin`: users (add local or identity-provider-only, delete, reset a locked-out user's
// MFA — each destructive step behind a confirmation dialog, neither offered on one's own row) and the audit log with its
// filters, through the admin JSON API.
import {
  api, ApiError, onSubmit, el, cell, timeEl, when, announce, currentUser, setUpHeader, pageError, describe,
  dismissBanner,
} from './common.js';

const $ = (id) => document.getElementById(id);
const PAGE = 25;

let me = null;
let users = [];
let audit = { user_id: '', event: '', outcome: '', since: '', until: '', offset: 0 };

/** Every audit event (`AuditEventKind` in crates/domain/src/audit.rs) in a person's words. */
const EVENT_TEXT = {
  setup_completed: 'Service set up (first administrator)',
  login_success: 'Signed in',
  login_fail: 'Sign-in refused',
  logout: 'Signed out',
  mfa_verify_success: 'Second factor accepted at sign-in',
  mfa_verify_fail: 'Wrong second-factor code at sign-in',
  mfa_enroll_begin: 'Two-factor set-up started',
  mfa_enroll_confirm_success: 'Two-factor turned on',
  mfa_enroll_confirm_fail: 'Wrong code while setting up two-factor',
  mfa_enroll_cancel: 'Two-factor set-up cancelled',
  mfa_disable_success: 'Two-factor turned off',
  mfa_disable_fail: 'Turning two-factor off refused',
  mfa_backup_regenerate_success: 'New backup codes made',
  mfa_backup_regenerate_fail: 'New backup codes refused',
  mfa_reset_by_admin: 'Two-factor reset by an administrator',
  mfa_reset_by_admin_fail: 'Two-factor reset by an administrator refused',
  api_token_created: 'API token created',
  api_token_revoked: 'API token revoked',
  user_created: 'User added',
  user_deleted: 'User deleted',
  oidc_login_success: 'Signed in through an identity provider',
  oidc_login_fail: 'Sign-in through an identity provider refused',
  oidc_linked: 'Identity provider linked to the account',
  oidc_user_created: 'User created at first sign-in through an identity provider',
  password_changed: 'Password changed',
  password_change_fail: 'Password change refused',
  session_revoked: 'Session signed out',
  sessions_revoked_others: 'All other sessions signed out',
  notice_delivery_failed: 'Security e-mail not delivered',
  passkey_added: 'Passkey added',
  passkey_add_fail: 'Adding a passkey refused',
  passkey_renamed: 'Passkey renamed',
  passkey_removed: 'Passkey removed',
  passkey_remove_fail: 'Removing a passkey refused',
  passkey_counter_regressed: 'Passkey counter went backwards (a copied passkey?)',
  account_imported: 'Account imported from SlugBase',
  password_hash_upgraded: 'Imported password hash replaced at sign-in',
};

/** The reasons of refused events (the API's reason codes, the identity provider's). */
const REASON_TEXT = {
  INVALID_CODE: 'wrong code',
  INVALID_CREDENTIALS: 'wrong e-mail address or password',
  INVALID_PASSWORD: 'wrong password',
  INVALID_PASSKEY: 'passkey not accepted',
  PASSWORD_REQUIRED: 'no password given',
  MFA_NOT_ENABLED: 'two-factor was not on',
  MFA_ALREADY_ENABLED: 'two-factor was already on',
  MFA_NO_PENDING: 'the set-up had expired',
  MFA_PENDING_INVALID: 'the sign-in step had expired',
  MFA_REQUIRED_BY_POLICY: 'required by policy',
  TOO_MANY_ATTEMPTS: 'too many attempts',
  ADMIN_SELF_RESET_FORBIDDEN: 'administrators cannot reset their own',
  REAUTH_REQUIRED: 'a recent sign-in was needed',
  USER_NOT_FOUND: 'no such user',
  PASSKEY_ALREADY_REGISTERED: 'passkey already registered',
  PASSKEY_CEREMONY_INVALID: 'the passkey request had expired',
  PASSKEY_COUNTER_REGRESSED: 'its counter went backwards',
  PASSKEY_NOT_FOUND: 'no such passkey',
  PASSKEY_REJECTED: 'passkey could not be verified',
  PASSKEY_LIMIT_REACHED: 'too many passkeys',
  auth_failed: 'the provider refused',
  state_invalid: 'expired or reused sign-in link',
  auto_create_disabled: 'no account for this identity',
  email_required: 'no verified e-mail address shared',
  email_unusable: 'unusable e-mail address',
  provider_unavailable: 'provider unreachable',
};

/** The kind of second factor an event names (`ProofKind`), in words. */
const PROOF_TEXT = { totp: 'Authenticator code', backup_code: 'Backup code', passkey: 'Passkey' };

/** An event's name in words (its raw name where the table has none). */
function eventText(name) {
  return EVENT_TEXT[name] || name || '—';
}

/** An event's outcome in words: "Succeeded", "Refused: wrong code". */
function outcomeText(event) {
  if (event.outcome === 'success') return 'Succeeded';
  const why = event.reason ? (REASON_TEXT[event.reason] || event.reason) : '';
  // A security e-mail that did not go out was not refused: its reason is the notice's kind.
  if (event.event === 'notice_delivery_failed') return `Not delivered${why ? `: ${why.replaceAll('_', ' ')}` : ''}`;
  return `Refused${why ? `: ${why}` : ''}`;
}

/** A `type=date` value (the reader's local day) as the RFC 3339 instant it starts at,
 * `days` later; '' for none. */
function dayStart(value, days = 0) {
  if (!value) return '';
  const [y, m, d] = value.split('-').map(Number);
  const start = new Date(y, m - 1, d + days);
  return Number.isNaN(start.getTime()) ? '' : start.toISOString();
}

/** Opens the confirmation dialog; resolves to whether the person confirmed. */
function confirmAction(title, text, action) {
  const dialog = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

function signInMethod(user) {
  switch (user.login_method) {
    case 'password': return 'Password';
    case 'oidc': return `Identity provider${user.oidc_provider ? ` (${user.oidc_provider})` : ''}`;
    case 'password+oidc': return `Password or identity provider${user.oidc_provider ? ` (${user.oidc_provider})` : ''}`;
    default: return user.login_method || '—';
  }
}

/** Where a user stands with the MFA policy, in words: out of policy since when, or until when. */
function policyCell(user) {
  switch (user.mfa_policy_status) {
    case 'enrolled': return el('span', {}, 'Met');
    case 'grace_not_started': return el('strong', {}, 'Out of policy: grace period starts at their next sign-in');
    case 'in_grace': return el('strong', {}, `Out of policy: set-up due by ${when(user.mfa_grace_ends_at)}`);
    case 'overdue': return el('strong', {}, `Out of policy since ${when(user.mfa_grace_ends_at)}: can only set up two-factor authentication`);
    default: return el('span', { className: 'muted' }, 'Not required');
  }
}

async function refreshUsers() {
  const listed = await api('GET', '/api/admin/users');
  // A stored row that no longer decodes comes as {id, damaged: true, problem}: shown as
  // such at the end of the table, with no actions.
  const damaged = listed.filter((entry) => entry.damaged === true);
  users = listed.filter((entry) => entry.damaged !== true);
  const body = $('user-table').querySelector('tbody');
  body.replaceChildren(...users.map((user) => el('tr', { dataset: { email: user.email } },
    cell('E-mail', user.email),
    cell('Name', user.name),
    cell('Signs in with', signInMethod(user)),
    cell('Two-factor', el('span', { className: `badge ${user.mfa_enabled ? 'on' : 'off'}` }, user.mfa_enabled ? 'On' : 'Off')),
    cell('Policy', policyCell(user)),
    cell('Role', user.is_admin ? 'Administrator' : 'User'),
    el('td', { className: 'actions-cell' },
      // Never on one's own row: the server refuses it (ADMIN_SELF_RESET_FORBIDDEN); one's
      // own MFA goes off on the account page, with a code and the password. Nor "Delete"
      // (CANNOT_DELETE_SELF): an administrator could otherwise leave none.
      user.mfa_enabled && user.id !== me.id ? el('button', {
        type: 'button',
        'aria-label': `Reset MFA of ${user.email}`,
        onclick: () => resetMfa(user),
      }, 'Reset MFA') : null,
      user.id === me.id ? null : el('button', {
        type: 'button',
        className: 'danger',
        'aria-label': `Delete ${user.email}`,
        onclick: () => deleteUser(user),
      }, 'Delete')))));
  body.append(...damaged.map((row) => el('tr', { className: 'damaged' },
    el('td', { colSpan: 7 }, `Damaged record ${row.id}: ${row.problem}`))));
  const select = $('audit-user');
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '' }, 'All users'),
    ...users.map((user) => el('option', { value: user.id }, user.email)));
  select.value = users.some((u) => u.id === chosen) ? chosen : '';
}

async function resetMfa(user) {
  const yes = await confirmAction(
    'Reset two-factor authentication?',
    `${user.email} will sign in without a second step until they set it up again. Their backup codes stop working. Do this only after checking who is asking.`,
    'Reset MFA',
  );
  if (!yes) return;
  try {
    await api('POST', `/api/admin/users/${encodeURIComponent(user.id)}/mfa/reset`);
    announce(`Two-factor authentication of ${user.email} was reset.`);
  } catch (error) {
    showPageError(error);
  }
  await Promise.all([refreshUsers(), refreshAudit()]);
}

async function deleteUser(user) {
  const yes = await confirmAction(
    `Delete ${user.email}?`,
    'The account, its sessions, API tokens and backup codes are removed. This cannot be undone.',
    'Delete user',
  );
  if (!yes) return;
  try {
    await api('DELETE', `/api/admin/users/${encodeURIComponent(user.id)}`);
    announce(`${user.email} was deleted.`);
  } catch (error) {
    showPageError(error);
  }
  await Promise.all([refreshUsers(), refreshAudit()]);
}

function showPageError(error) {
  dismissBanner();
  const slot = $('page-error');
  slot.textContent = describe(error);
  slot.hidden = false;
}

onSubmit($('create-user-form'), async (values, form) => {
  const body = { email: values.email, name: values.name, is_admin: values.is_admin };
  if (values.password) body.password = values.password;
  const created = await api('POST', '/api/admin/users', body);
  form.reset();
  announce(`${created.email} was added.`);
  await Promise.all([refreshUsers(), refreshAudit()]);
});

function emailOf(id) {
  const user = users.find((u) => u.id === id);
  return user ? user.email : (id ? `${id.slice(0, 8)}…` : '—');
}

async function refreshAudit() {
  const query = new URLSearchParams({ limit: String(PAGE), offset: String(audit.offset) });
  if (audit.user_id) query.set('user_id', audit.user_id);
  if (audit.event) query.set('event', audit.event);
  if (audit.outcome) query.set('outcome', audit.outcome);
  // "To" is the last day shown: the API's `until` is exclusive, so the next day's start.
  if (audit.since) query.set('since', dayStart(audit.since));
  if (audit.until) query.set('until', dayStart(audit.until, 1));
  const page = await api('GET', `/api/admin/audit-log?${query}`);
  const body = $('audit-table').querySelector('tbody');
  if (page.events.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colSpan: 6, className: 'empty' }, 'No events.')));
  } else {
    body.replaceChildren(...page.events.map((event) => (event.damaged === true
      ? el('tr', { className: 'damaged' }, el('td', { colSpan: 6 }, `Damaged event ${event.id}: ${event.problem}`))
      : el('tr', {},
      cell('Time', timeEl(event.at)),
      cell('Event', el('span', { className: 'event-text' }, eventText(event.event)), el('code', { className: 'event-name' }, event.event)),
      cell('Outcome', el('span', { title: event.reason || event.outcome }, outcomeText(event))),
      cell('User', emailOf(event.user_id), event.actor_id && event.actor_id !== event.user_id ? ` by ${emailOf(event.actor_id)}` : ''),
      cell('Proof', event.proof ? el('span', { title: event.proof }, PROOF_TEXT[event.proof] || event.proof) : '—'),
      cell('Address', event.client_addr || '—')))));
  }
  const first = page.events.length ? audit.offset + 1 : 0;
  $('audit-range').textContent = page.events.length
    ? `Events ${first}–${audit.offset + page.events.length}`
    : 'No events on this page';
  $('audit-prev').disabled = audit.offset === 0;
  $('audit-next').disabled = page.events.length < PAGE;
}

onSubmit($('audit-filter'), async (values) => {
  const previous = audit;
  audit = {
    user_id: values.user_id,
    event: values.event.trim(),
    outcome: values.outcome,
    since: values.since,
    until: values.until,
    offset: 0,
  };
  try {
    await refreshAudit();
  } catch (error) {
    audit = previous;
    throw error;
  }
});

$('audit-prev').addEventListener('click', async () => {
  audit.offset = Math.max(0, audit.offset - PAGE);
  await refreshAudit().catch(showPageError);
});
$('audit-next').addEventListener('click', async () => {
  audit.offset += PAGE;
  await refreshAudit().catch(showPageError);
});

async function start() {
  me = await currentUser();
  setUpHeader(me);
  if (!me.is_admin) {
    $('not-admin').hidden = false;
    return;
  }
  if (me.mfa_policy_status === 'overdue') {
    // The API answers this account nothing here (MFA_ENROLLMENT_REQUIRED) until it enrols.
    $('enrol-first').hidden = false;
    return;
  }
  $('users').hidden = false;
  $('audit').hidden = false;
  $('audit-events').replaceChildren(...Object.entries(EVENT_TEXT)
    .map(([name, words]) => el('option', { value: name, label: words })));
  try {
    await refreshUsers();
    await refreshAudit();
  } catch (error) {
    if (error instanceof ApiError && error.reason === 'FORBIDDEN') {
      $('not-admin').hidden = false;
      $('users').hidden = true;
      $('audit').hidden = true;
      return;
    }
    throw error;
  }
}

start().catch(pageError);
