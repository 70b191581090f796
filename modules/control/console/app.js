// SPDX-License-Identifier: BSD-3-Clause
// The weft admin console: one page, routed by the URL's fragment (#/machines, #/users, ...), talking only
// to the REST API under /api/v2/. No framework and no build step: DOM nodes are made with h() (never
// innerHTML with data, so names a client chose cannot inject markup). Credentials: an API key kept in
// sessionStorage and sent as "Authorization: Bearer", or a session cookie set by the server's single
// sign-on (OIDC) login, which the browser sends by itself.
'use strict';

const API = '/api/v2/';
const KEY = 'weft.apikey';
// What the server says about ways to log in besides an API key: {"oidc": {"url": "...", "label": "..."}}.
// Without single sign-on (or an older server: 404) the login page shows the API key form only.
const LOGIN_METHODS = 'weft/console/login-methods';
// A single sign-on session: the server's HttpOnly weft_session cookie, and the weft_csrf cookie whose value
// must come back as X-CSRF-Token on every request but GET and HEAD. POST /admin/logout ends it.
const LOGOUT = '/admin/logout';
const csrf = () => (document.cookie.split('; ').find((c) => c.startsWith('weft_csrf=')) || '').slice(10);

const $ = (sel, root) => (root || document).querySelector(sel);

// h('tag.class', {attr: value, onclick: fn}, children...): an element.
function h(spec, attrs, ...kids) {
  const [tag, ...cls] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (cls.length) el.className = cls.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function toast(msg) {
  const t = $('#toast');
  t.textContent = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 6000);
}

// ---- the API ----

class ApiError extends Error {
  constructor(status, message, data) { super(message); this.status = status; this.data = data; }
}

// An API call: {status, ok, data (parsed JSON, or text), headers}. 401 ends the session.
async function api(method, path, body, opts) {
  opts = opts || {};
  const headers = Object.assign({}, opts.headers);
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = 'Bearer ' + key;
  else if (method !== 'GET' && method !== 'HEAD' && csrf()) headers['X-CSRF-Token'] = csrf();
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    headers['Content-Type'] = opts.type || 'application/json';
  }
  let r;
  try {
    r = await fetch(API + path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'the server cannot be reached (' + e.message + ')');
  }
  const text = await r.text();
  let data = text;
  if ((r.headers.get('Content-Type') || '').includes('json')) { try { data = text ? JSON.parse(text) : null; } catch (e) { /* keep the text */ } }
  const res = { status: r.status, ok: r.ok, data, headers: r.headers, text };
  if (r.status === 401 && !opts.probe) {
    endSession('Your key is no longer accepted (expired or revoked?): log in again.');
    throw new ApiError(401, 'not logged in');
  }
  return res;
}

function messageOf(res) {
  if (res.data && typeof res.data === 'object' && res.data.message) return res.data.message;
  return (typeof res.data === 'string' && res.data) || ('HTTP ' + res.status);
}

// An endpoint this server does not have (yet): 404 for the path itself, or 501.
function unavailable(res) {
  return res.status === 501 || (res.status === 404 && /no API endpoint/.test(messageOf(res)));
}

// The call's JSON, or an ApiError.
async function call(method, path, body, opts) {
  const res = await api(method, path, body, opts);
  if (!res.ok) throw new ApiError(res.status, messageOf(res), res.data);
  return res.data;
}

function unavailableCard(what, res) {
  return h('div.card.unavailable', { role: 'note' },
    h('p', { text: what + ': not available on this server.' }),
    res ? h('p.hint', { text: 'The server answered ' + res.status + ': ' + messageOf(res) }) : null);
}

// ---- formatting ----

function when(t) {
  if (!t || t.startsWith('0001-')) return '—';
  const d = new Date(t);
  if (isNaN(d)) return t;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
function ago(t) {
  if (!t || t.startsWith('0001-')) return 'never';
  const s = Math.round((Date.now() - new Date(t)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' days ago';
}
const shortName = (d) => (d.name || '').split('.')[0];
const splitList = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
// A table cell; its content in one box so that the phone layout (label | content) keeps it together.
const cell = (label, ...kids) => h('td', { 'data-label': label }, h('div.cv', null, ...kids));

// ---- the dialog: one modal form, focus kept inside, given back to the button that opened it ----

function dialog(title, fields, ok, okLabel, danger) {
  const dlg = $('#dialog'), form = $('#dialog-form'), back = document.activeElement;
  $('#dialog-title').textContent = title;
  $('#dialog-error').textContent = '';
  const body = $('#dialog-body');
  body.replaceChildren(...fields);
  const okBtn = $('#dialog-ok');
  okBtn.textContent = okLabel || 'Save';
  okBtn.className = danger ? 'danger' : '';
  const close = () => { dlg.close(); form.onsubmit = null; if (back && back.focus) back.focus(); };
  $('#dialog-cancel').onclick = close;
  dlg.oncancel = (e) => { e.preventDefault(); close(); };
  form.onsubmit = async (e) => {
    e.preventDefault();
    okBtn.disabled = true;
    try {
      await ok();
      close();
    } catch (err) {
      $('#dialog-error').textContent = err.message;
    } finally {
      okBtn.disabled = false;
    }
  };
  dlg.showModal();
  const first = body.querySelector('input, select, textarea') || okBtn;
  first.focus();
}

function field(id, label, input, hint) {
  if (hint) input.setAttribute('aria-describedby', id + '-hint');
  input.id = id;
  return h('div', null, h('label', { for: id, text: label }), input, hint ? h('p.hint', { id: id + '-hint', text: hint }) : null);
}

// ---- pages ----

const pages = {};

pages.machines = async (view) => {
  const [devs, users] = await Promise.all([call('GET', 'tailnet/-/devices?fields=all'),
                                           call('GET', 'tailnet/-/users').catch(() => ({ users: [] }))]);
  const devices = devs.devices || [];
  const routes = await Promise.all(devices.map((d) => api('GET', 'device/' + encodeURIComponent(d.nodeId) + '/routes')));
  const rows = devices.map((d, i) => machineRow(d, routes[i], users.users || []));
  view.replaceChildren(
    h('div.toolbar', null, h('h1', { text: 'Machines' }),
      h('span.muted', { text: devices.length + (devices.length === 1 ? ' machine' : ' machines') })),
    devices.length === 0
      ? h('div.card', null, h('p', { text: 'No machine has joined yet. Create an auth key and run the command it shows on a machine.' }),
          h('a.button', { href: '#/keys', text: 'Create an auth key' }))
      : h('table.cards', { id: 'machines' },
        h('caption.muted', { text: 'Machines of the tailnet and what can be done to each' }),
        h('thead', null, h('tr', null, ['Machine', 'User', 'Tags', 'Addresses', 'OS', 'Last seen', 'Key expiry', 'Routes', 'Exit node', 'Actions']
          .map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', null, rows)));
};

function routeInfo(res) {
  if (!res.ok) return null;
  const adv = res.data.advertisedRoutes || [], en = res.data.enabledRoutes || [];
  const exit = ['0.0.0.0/0', '::/0'];
  // approved routes the machine does not advertise (yet) are listed too: they wait for it
  return { adv, en, subnets: [...new Set([...adv, ...en])].filter((r) => !exit.includes(r)), exitOffered: adv.some((r) => exit.includes(r)),
           exitOn: en.some((r) => exit.includes(r)) };
}

async function setRoutes(d, enabled) {
  await call('POST', 'device/' + encodeURIComponent(d.nodeId) + '/routes', { routes: enabled });
}

function machineRow(d, rres, users) {
  const name = shortName(d), ri = routeInfo(rres);
  const expired = !d.keyExpiryDisabled && d.expires && !d.expires.startsWith('0001-') && new Date(d.expires) <= Date.now();
  let routesCell, exitCell;
  if (!ri) {
    const note = unavailable(rres) ? 'not available on this server' : messageOf(rres);
    routesCell = h('span.muted', { text: note, title: messageOf(rres) });
    exitCell = h('span.muted', { text: '—' });
  } else {
    routesCell = ri.subnets.length === 0 ? h('span.muted', { text: 'none advertised' }) : h('ul', null, ri.subnets.map((r) =>
      h('li', null, h('code', { text: r }), ' ',
        !ri.adv.includes(r) ? h('span.muted', { text: 'approved, not advertised' })
          : ri.en.includes(r) ? h('span.online', { text: 'approved' })
          : h('button.small', { type: 'button', 'aria-label': 'Approve route ' + r + ' of ' + name,
            onclick: async () => { await run(() => setRoutes(d, [...ri.en, r]), 'Route ' + r + ' approved'); } }, 'Approve'))));
    exitCell = !ri.exitOffered ? h('span.muted', { text: 'not offered' }) : ri.exitOn ? h('span.online', { text: 'approved' })
      : h('button.small', { type: 'button', 'aria-label': 'Approve ' + name + ' as exit node',
        onclick: async () => { await run(() => setRoutes(d, [...new Set([...ri.en, ...ri.adv.filter((r) => r === '0.0.0.0/0' || r === '::/0')])]), name + ' approved as exit node'); } }, 'Approve');
  }
  const act = (label, fn, cls) => h('button.small' + (cls ? '.' + cls : ''), { type: 'button', 'aria-label': label + ' ' + name, onclick: fn }, label);
  return h('tr', { 'data-id': d.nodeId },
    cell('Machine', h('strong', { text: name }), h('span.sub', { text: d.name })),
    cell('User', d.user || '—'),
    cell('Tags', (d.tags || []).length ? (d.tags || []).map((t) => h('span.tag', { text: t })) : h('span.muted', { text: '—' })),
    cell('Addresses', h('ul', null, (d.addresses || []).map((a) => h('li.mono', { text: a })))),
    cell('OS', d.os || '—', d.clientVersion ? h('span.sub', { text: d.clientVersion }) : null),
    cell('Last seen', d.connectedToControl ? h('span.online', { text: '● online' }) : h('span.offline', { text: '○ offline' }),
      h('span.sub', { text: d.connectedToControl ? '' : ago(d.lastSeen), title: when(d.lastSeen) })),
    cell('Key expiry', d.keyExpiryDisabled ? h('span.muted', { text: 'never' })
      : h('span' + (expired ? '.expired' : ''), { text: expired ? 'expired ' + when(d.expires) : when(d.expires) })),
    cell('Routes', routesCell),
    cell('Exit node', exitCell),
    cell('Actions', h('div.row-actions', null,
      act('Rename', () => renameDialog(d)),
      act('Tags', () => tagsDialog(d)),
      act('Move', () => moveDialog(d, users)),
      act('Expire key', () => expireDialog(d)),
      act('Delete', () => deleteDialog(d), 'danger'))));
}

// Runs a change, says how it went, and shows the page again.
async function run(fn, done) {
  try {
    await fn();
    toast(done);
    await render();
  } catch (e) {
    toast('Failed: ' + e.message);
  }
}

function renameDialog(d) {
  const input = h('input', { type: 'text', value: shortName(d), required: true, pattern: '[a-z0-9]([a-z0-9\\-]{0,61}[a-z0-9])?', autocomplete: 'off' });
  dialog('Rename ' + shortName(d), [field('rename-name', 'New name', input, 'Lower-case letters, digits and dashes; its MagicDNS name becomes NAME.' + d.name.split('.').slice(1).join('.'))], async () => {
    await call('POST', 'device/' + encodeURIComponent(d.nodeId) + '/name', { name: input.value.trim() });
    toast('Renamed to ' + input.value.trim());
    render();
  }, 'Rename');
}

function tagsDialog(d) {
  const input = h('input', { type: 'text', value: (d.tags || []).join(', '), autocomplete: 'off', placeholder: 'tag:server, tag:web' });
  dialog('Tags of ' + shortName(d), [field('tags-input', 'Tags', input, 'Comma-separated, each tag:NAME. Empty removes them all.')], async () => {
    await call('POST', 'device/' + encodeURIComponent(d.nodeId) + '/tags', { tags: splitList(input.value) });
    toast('Tags of ' + shortName(d) + ' saved');
    render();
  });
}

function moveDialog(d, users) {
  const sel = h('select', null, users.map((u) => h('option', { value: u.loginName, selected: u.loginName === d.user, text: u.displayName && u.displayName !== u.loginName ? u.loginName + ' (' + u.displayName + ')' : u.loginName })));
  dialog('Move ' + shortName(d) + ' to another user', [field('move-user', 'User', sel)], async () => {
    const res = await api('POST', 'weft/device/' + encodeURIComponent(d.nodeId) + '/user', { user: sel.value });
    if (unavailable(res)) throw new Error('Moving machines is not available on this server.');
    if (!res.ok) throw new Error(messageOf(res));
    toast(shortName(d) + ' now belongs to ' + sel.value);
    render();
  }, 'Move');
}

function expireDialog(d) {
  dialog('Expire the key of ' + shortName(d) + '?', [h('p', { text: 'The machine is disconnected and must log in again.' })], async () => {
    await call('POST', 'device/' + encodeURIComponent(d.nodeId) + '/expire');
    toast('Key of ' + shortName(d) + ' expired');
    render();
  }, 'Expire key', true);
}

function deleteDialog(d) {
  dialog('Delete ' + shortName(d) + '?', [h('p', { text: 'The machine is removed from the tailnet; it must be registered again to come back.' })], async () => {
    await call('DELETE', 'device/' + encodeURIComponent(d.nodeId));
    toast(shortName(d) + ' deleted');
    render();
  }, 'Delete', true);
}

pages.users = async (view) => {
  const data = await call('GET', 'tailnet/-/users');
  const users = data.users || [];
  const input = h('input', { type: 'text', required: true, autocomplete: 'off', placeholder: 'alice' });
  view.replaceChildren(
    h('div.toolbar', null, h('h1', { text: 'Users' })),
    h('table.cards', { id: 'users' },
      h('thead', null, h('tr', null, ['Login name', 'Display name', 'Machines', 'Connected', 'Last seen', 'Created'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', null, users.map((u) => h('tr', null,
        cell('Login name', h('strong', { text: u.loginName })), cell('Display name', u.displayName || '—'),
        cell('Machines', String(u.deviceCount)),
        cell('Connected', u.currentlyConnected ? h('span.online', { text: 'yes' }) : h('span.offline', { text: 'no' })),
        cell('Last seen', ago(u.lastSeen)), cell('Created', when(u.created)))))),
    h('form.card', { id: 'user-create', onsubmit: async (e) => {
      e.preventDefault();
      await run(() => call('POST', 'weft/users', { loginName: input.value.trim() }), 'User ' + input.value.trim() + ' created');
    } }, h('h2', { text: 'Add a user' }), field('user-name', 'Login name', input), h('div.actions', null, h('button', { type: 'submit', text: 'Add user' }))));
};

pages.keys = async (view) => {
  const [data, users] = await Promise.all([call('GET', 'tailnet/-/keys'), call('GET', 'tailnet/-/users').catch(() => ({ users: [] }))]);
  const keys = (data.keys || []).filter((k) => !k.keyType || k.keyType === 'auth');
  const userSel = h('select', null, (users.users || []).map((u) => h('option', { value: u.loginName, text: u.loginName })));
  const desc = h('input', { type: 'text', maxlength: 50, autocomplete: 'off', placeholder: 'e.g. office laptops' });
  const tags = h('input', { type: 'text', autocomplete: 'off', placeholder: 'tag:server' });
  const days = h('input', { type: 'number', min: 0, max: 3650, value: 90 });
  const reusable = h('input', { type: 'checkbox', id: 'key-reusable' });
  const ephemeral = h('input', { type: 'checkbox', id: 'key-ephemeral' });
  const result = h('div', { id: 'key-result', 'aria-live': 'polite' });
  const form = h('form.card', { id: 'key-create', onsubmit: async (e) => {
    e.preventDefault();
    const body = { capabilities: { devices: { create: { reusable: reusable.checked, ephemeral: ephemeral.checked, preauthorized: true, tags: splitList(tags.value) } } },
                   description: desc.value.trim(), user: userSel.value };
    const d = Number(days.value);
    if (d > 0) body.expirySeconds = Math.round(d * 86400);
    try {
      const k = await call('POST', 'tailnet/-/keys', body);
      showNewKey(result, k);
      const list = await call('GET', 'tailnet/-/keys');
      $('#keys-body').replaceChildren(...keyRows(list.keys || []));
    } catch (err) {
      result.replaceChildren(h('p.error', { role: 'alert', text: 'The key was not created: ' + err.message }));
    }
  } },
  h('h2', { text: 'Create an auth key' }),
  field('key-user', 'User the machines will belong to', userSel),
  field('key-desc', 'Description', desc),
  field('key-tags', 'Tags', tags, 'Comma-separated; machines joining with this key get these tags.'),
  field('key-days', 'Expires after (days)', days, '0: never.'),
  h('div', { role: 'group', 'aria-label': 'Key kind' },
    h('label.inline', { for: 'key-reusable' }, reusable, 'Reusable (many machines)'),
    h('label.inline', { for: 'key-ephemeral' }, ephemeral, 'Ephemeral (machines removed when offline)')),
  h('div.actions', null, h('button', { type: 'submit', text: 'Create key' })), result);
  view.replaceChildren(
    h('div.toolbar', null, h('h1', { text: 'Auth keys' })),
    form,
    h('table.cards', { id: 'keys' },
      h('thead', null, h('tr', null, ['Key', 'Description', 'User', 'Kind', 'Tags', 'Created', 'Expires', 'State', ''].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', { id: 'keys-body' }, keyRows(keys))));
};

function keyRows(keys) {
  return keys.filter((k) => !k.keyType || k.keyType === 'auth').map((k) => {
    const c = ((k.capabilities || {}).devices || {}).create || {};
    const kind = [c.reusable ? 'reusable' : 'one-off', c.ephemeral ? 'ephemeral' : null].filter(Boolean).join(', ');
    return h('tr', null,
      cell('Key', h('code', { text: k.prefix || k.id })), cell('Description', k.description || '—'), cell('User', k.userId || '—'),
      cell('Kind', kind), cell('Tags', (c.tags || []).map((t) => h('span.tag', { text: t }))),
      cell('Created', when(k.created)), cell('Expires', k.expires ? when(k.expires) : 'never'),
      cell('State', k.invalid ? h('span.expired', { text: 'used up, expired or revoked' }) : h('span.online', { text: 'valid' })),
      cell('', k.invalid ? null : h('button.small.danger', { type: 'button', 'aria-label': 'Revoke key ' + (k.prefix || k.id),
        onclick: () => dialog('Revoke key ' + (k.prefix || k.id) + '?', [h('p', { text: 'Machines can no longer join with it; those that joined stay.' })], async () => {
          await call('DELETE', 'tailnet/-/keys/' + encodeURIComponent(k.id));
          toast('Key revoked');
          render();
        }, 'Revoke', true) }, 'Revoke')));
  });
}

function showNewKey(box, k) {
  const cmd = 'tailscale up --login-server=' + location.origin + ' --authkey=' + k.key;
  const copy = (text) => async () => {
    try { await navigator.clipboard.writeText(text); toast('Copied'); } catch (e) { toast('Select the text and copy it'); }
  };
  box.replaceChildren(h('div.card', { role: 'region', 'aria-label': 'The new key' },
    h('p.okmsg', { text: 'Key created. It is shown only now: copy it.' }),
    h('label', { text: 'Run this on the machine to join', for: 'key-command' }),
    h('div.secret', null, h('code', { id: 'key-command', tabindex: 0, text: cmd }),
      h('button.small', { type: 'button', onclick: copy(cmd), text: 'Copy command' })),
    h('label', { text: 'The key', for: 'key-text' }),
    h('div.secret', null, h('code', { id: 'key-text', tabindex: 0, text: k.key }),
      h('button.small.secondary', { type: 'button', onclick: copy(k.key), text: 'Copy key' }))));
  $('#key-command').focus();
}

// ---- the policy editor: the policy's text with line numbers, validation (which runs the policy's tests)
// before every save, errors listed with the line they are at; If-Match so two editors do not overwrite
// each other.

pages.policy = async (view) => {
  const res = await api('GET', 'tailnet/-/acl', undefined, { headers: { Accept: 'application/hujson' } });
  if (!res.ok) {
    view.replaceChildren(h('h1', { text: 'Access policy' }), unavailable(res) ? unavailableCard('The policy file', res)
      : h('p.error', { role: 'alert', text: messageOf(res) }));
    return;
  }
  let etag = res.headers.get('ETag');
  const text = typeof res.data === 'string' ? res.data : JSON.stringify(res.data, null, 2);
  const ta = h('textarea.code', { id: 'policy-text', spellcheck: 'false', autocomplete: 'off', wrap: 'off', 'aria-describedby': 'policy-problems' });
  ta.value = text;
  const gutter = h('pre.gutter', { 'aria-hidden': 'true' });
  const problems = h('div', { id: 'policy-problems', 'aria-live': 'polite' });
  let bad = new Set();
  const numbers = () => {
    const n = ta.value.split('\n').length;
    gutter.replaceChildren(...Array.from({ length: n }, (_, i) => h('span' + (bad.has(i + 1) ? '.bad' : ''), { text: String(i + 1) })));
    gutter.scrollTop = ta.scrollTop;
  };
  ta.addEventListener('input', numbers);
  ta.addEventListener('scroll', () => { gutter.scrollTop = ta.scrollTop; });
  const goLine = (line, col) => {
    const lines = ta.value.split('\n');
    let pos = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    const end = pos + (lines[line - 1] || '').length;
    ta.focus();
    ta.setSelectionRange(col ? Math.min(pos + col - 1, end) : pos, end);
    const lh = ta.scrollHeight / Math.max(lines.length, 1);
    ta.scrollTop = Math.max(0, (line - 5) * lh);
  };
  const show = (list, okText) => {
    bad = new Set(list.filter((p) => p.line).map((p) => p.line));
    numbers();
    if (!list.length) { problems.replaceChildren(okText ? h('p.okmsg', { text: okText }) : ''); return; }
    problems.replaceChildren(h('p.error', { role: 'alert', text: list.length === 1 ? 'The policy has a problem:' : 'The policy has ' + list.length + ' problems:' }),
      h('ul.problems', null, list.map((p) => h('li', null,
        p.line ? h('button.small.secondary', { type: 'button', onclick: () => goLine(p.line, p.col), text: 'Line ' + p.line + (p.col ? ':' + p.col : '') }) : null,
        ' ', p.text))));
  };
  const validate = async () => {
    const r = await api('POST', 'tailnet/-/acl/validate', ta.value, { type: 'application/hujson' });
    if (unavailable(r)) return [{ text: 'Validation is not available on this server: the policy is checked when it is saved.' , soft: true }];
    return problemsOf(r);
  };
  const save = async () => {
    const found = (await validate()).filter((p) => !p.soft);
    if (found.length) { show(found); goLine(found.find((p) => p.line) ? found.find((p) => p.line).line : 1); return; }
    const r = await api('POST', 'tailnet/-/acl', ta.value, { type: 'application/hujson', headers: etag ? { 'If-Match': etag } : {} });
    if (r.status === 412) { show([{ text: 'Someone else changed the policy since you opened it: reload it (your text is kept until you do) and apply your change again.' }]); return; }
    const p = problemsOf(r);
    if (p.length) { show(p); return; }
    etag = r.headers.get('ETag') || etag;
    show([], 'Saved: the policy is in force.');
    toast('Policy saved');
  };
  view.replaceChildren(
    h('div.toolbar', null, h('h1', { text: 'Access policy' }),
      h('button.secondary', { type: 'button', id: 'policy-validate', onclick: async () => { const p = await validate(); show(p, p.length ? '' : 'The policy is valid and its tests pass.'); }, text: 'Validate' }),
      h('button', { type: 'button', id: 'policy-save', onclick: save, text: 'Save' })),
    h('p.hint', { text: 'HuJSON (JSON with comments and trailing commas). Saving validates the policy and runs its tests first; nothing is saved if one fails.' }),
    h('label', { for: 'policy-text', text: 'Policy file' }),
    h('div.editor', null, gutter, ta),
    problems);
  numbers();
};

// The problems in a validate or save answer: [{line, col, text}] (none when it succeeded).
function problemsOf(r) {
  const out = [];
  const add = (text) => {
    const m = /line (\d+)(?:,? col(?:umn)? (\d+))?/i.exec(text) || /:(\d+):(\d+)\b/.exec(text);
    out.push({ line: m ? Number(m[1]) : 0, col: m && m[2] ? Number(m[2]) : 0, text });
  };
  const d = r.data && typeof r.data === 'object' ? r.data : null;
  if (r.ok && (!d || !d.message)) return out;
  if (d && Array.isArray(d.data) && d.data.length) {
    for (const e of d.data) for (const x of (e.errors || [])) add((e.user ? 'test for ' + e.user + ': ' : '') + x);
    if (!out.length && d.message) add(d.message);
  } else {
    add(messageOf(r));
  }
  return out;
}

pages.dns = async (view) => {
  const [ns, sp, pref, split] = await Promise.all(['nameservers', 'searchpaths', 'preferences', 'split-dns'].map((p) => api('GET', 'tailnet/-/dns/' + p)));
  const blocks = [h('div.toolbar', null, h('h1', { text: 'DNS' })),
    h('p.muted', { text: 'What is saved here is kept by the server and replaces the configuration file\'s setting; every machine gets it at once.' })];
  const form = (id, title, res, inputEl, hint, toBody, path, method) => h('form.card', { id, onsubmit: async (e) => {
    e.preventDefault();
    const r = await api(method || 'POST', 'tailnet/-/dns/' + path, toBody());
    const msg = $('#' + id + '-msg');
    if (r.ok) { toast(title + ' saved'); render(); return; }
    msg.className = r.status === 501 ? 'hint' : 'error';
    msg.textContent = (r.status === 501 ? 'Changing this is not available on this server: ' : 'Not saved: ') + messageOf(r);
  } }, res.ok ? [field(id + '-input', title, inputEl, hint), h('div.actions', null, h('button', { type: 'submit', text: 'Save' })),
    h('p', { id: id + '-msg', role: 'status' })] : [h('h2', { text: title }), unavailableCard(title, res)]);
  blocks.push(form('dns-ns', 'Nameservers', ns, h('textarea', { rows: 3, value: ns.ok ? (ns.data.dns || []).join('\n') : '' }),
    'One per line: IP addresses or DNS-over-HTTPS URLs. Machines use them for names outside the tailnet.',
    () => ({ dns: splitList($('#dns-ns-input').value) }), 'nameservers'));
  blocks.push(form('dns-search', 'Search domains', sp, h('textarea', { rows: 2, value: sp.ok ? (sp.data.searchPaths || []).join('\n') : '' }),
    'One per line.', () => ({ searchPaths: splitList($('#dns-search-input').value) }), 'searchpaths'));
  blocks.push(form('dns-pref', 'MagicDNS', pref, h('select', null, h('option', { value: 'true', text: 'On', selected: pref.ok && pref.data.magicDNS }),
    h('option', { value: 'false', text: 'Off', selected: pref.ok && !pref.data.magicDNS })),
    'Gives every machine a DNS name in the tailnet\'s domain.', () => ({ magicDNS: $('#dns-pref-input').value === 'true' }), 'preferences'));
  const splitText = split.ok ? Object.entries(split.data || {}).map(([d, s]) => d + ' = ' + (s || []).join(', ')).join('\n') : '';
  blocks.push(form('dns-split', 'Split DNS', split, h('textarea', { rows: 3, value: splitText, placeholder: 'corp.example = 10.0.0.53' }),
    'One domain per line: DOMAIN = SERVER, SERVER. Names under DOMAIN are resolved by those servers; a domain without servers is removed.',
    () => Object.fromEntries($('#dns-split-input').value.split('\n').filter((l) => l.includes('=')).map((l) => { const [d, s] = l.split('='); return [d.trim(), splitList(s)]; })),
    'split-dns', 'PUT'));
  view.replaceChildren(...blocks);
};

pages.relays = async (view) => {
  const res = await api('GET', 'weft/derp');
  if (!res.ok) {
    view.replaceChildren(h('h1', { text: 'Relays (DERP)' }), unavailable(res) ? unavailableCard('Relay regions', res) : h('p.error', { role: 'alert', text: messageOf(res) }));
    return;
  }
  const regions = res.data.regions || [];
  view.replaceChildren(
    h('div.toolbar', null, h('h1', { text: 'Relays (DERP)' })),
    h('p.hint', { text: 'The relay regions machines are given. Health is what the machines report: a region that machines use as their home relay is reachable for them.' }),
    h('table.cards', { id: 'relays' },
      h('thead', null, h('tr', null, ['Region', 'Name', 'Servers', 'Home of', 'Health'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', null, regions.map((r) => h('tr', null,
        cell('Region', h('strong', { text: String(r.regionId) }), h('span.sub', { text: r.regionCode || '' })),
        cell('Name', r.regionName || '—', r.embedded ? h('span.sub', { text: 'built into this server' }) : null),
        cell('Servers', h('ul', null, (r.nodes || []).map((n) => h('li.mono', { text: (n.hostName || n.name) + (n.derpPort ? ':' + n.derpPort : '') })))),
        cell('Home of', r.homeDevices + (r.homeDevices === 1 ? ' machine' : ' machines')),
        cell('Health', r.homeDevicesOnline > 0 ? h('span.online', { text: '● in use: ' + r.homeDevicesOnline + ' connected' })
          : r.homeDevices > 0 ? h('span.offline', { text: '○ its machines are offline' }) : h('span.muted', { text: 'no machine uses it now' })))))));
};

// ---- session and routing ----

async function render() {
  const name = (location.hash.replace(/^#\/?/, '') || 'machines').split('/')[0];
  const page = pages[name] ? name : 'machines';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#/' + page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const view = $('#view');
  view.setAttribute('aria-busy', 'true');
  try {
    await pages[page](view);
  } catch (e) {
    if (e.status === 401) return;
    view.replaceChildren(h('h1', { text: 'Something went wrong' }), h('p.error', { role: 'alert', text: e.message }),
      h('button', { type: 'button', onclick: render, text: 'Try again' }));
  } finally {
    view.removeAttribute('aria-busy');
  }
  document.title = ($('#view h1') ? $('#view h1').textContent + ' · ' : '') + 'weft admin';
}

function showApp(on) {
  $('#login').hidden = on;
  $('#nav').hidden = !on;
  $('#logout').hidden = !on;
  $('#whoami').textContent = '';
  if (!on) { $('#view').replaceChildren(); return; }
  api('GET', 'weft/whoami', undefined, { probe: true }).then((r) => {
    if (r.ok && r.data) $('#whoami').textContent = r.data.kind === 'session' ? r.data.id : 'API key ' + r.data.id;
  }).catch(() => null);
}

async function loginMethods() {
  const r = await api('GET', LOGIN_METHODS, undefined, { probe: true }).catch(() => null);
  const oidc = r && r.ok && r.data && r.data.oidc;
  if (oidc && oidc.url) {
    const b = $('#oidc-button');
    b.href = oidc.url + (oidc.url.includes('?') ? '&' : '?') + 'next=' + encodeURIComponent(location.pathname);
    if (oidc.label) b.textContent = oidc.label;
    $('#login-oidc').hidden = false;
  }
}

function endSession(msg) {
  sessionStorage.removeItem(KEY);
  showApp(false);
  $('#login-error').textContent = msg || '';
  loginMethods();
  $('#apikey').focus();
}

// Whether the browser holds working credentials (a key in this tab, or the server's session cookie).
async function probe() {
  const r = await api('GET', 'tailnet/-/users', undefined, { probe: true });
  return r;
}

async function start() {
  $('#login-key').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = $('#apikey').value.trim();
    $('#login-error').textContent = '';
    sessionStorage.setItem(KEY, key);
    let r;
    try { r = await probe(); } catch (err) { r = { status: 0, data: err.message }; }
    if (r.ok) {
      $('#apikey').value = '';
      showApp(true);
      if (!location.hash) location.hash = '#/machines'; else render();
      $('#main').focus();
    } else {
      sessionStorage.removeItem(KEY);
      $('#login-error').textContent = r.status === 401 ? 'That key is not accepted (mistyped, expired or revoked).'
        : r.status === 403 ? 'That key may not manage this tailnet: ' + messageOf(r) : 'Login failed: ' + messageOf(r);
      $('#apikey').focus();
      $('#apikey').select(); // typing replaces the refused key
    }
  });
  $('#logout').addEventListener('click', async () => {
    if (!sessionStorage.getItem(KEY))
      await fetch(LOGOUT, { method: 'POST', headers: { 'X-CSRF-Token': csrf() }, credentials: 'same-origin' }).catch(() => null);
    endSession('You are logged out.');
  });
  window.addEventListener('hashchange', () => {
    if ($('#nav').hidden) return;
    $('#toast').textContent = ''; // news of the page left behind
    render();
    $('#main').focus();
  });
  let r = null;
  try { r = await probe(); } catch (e) { /* the server is away: the login page says so when used */ }
  if (r && r.ok) {
    showApp(true);
    render();
  } else {
    endSession(sessionStorage.getItem(KEY) ? 'Your key is no longer accepted: log in again.' : '');
  }
}

document.addEventListener('DOMContentLoaded', start);
