/*
 * dash-settings.js - #/settings: one's own password and notifications, and
 * for admins the team: agents (add, change, remove), labels and canned
 * replies.  What config.yaml defines is listed as such and cannot be
 * changed here (the server refuses it too); README "The dashboard" says
 * which wins.
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, h = FD.h, said = FD.said, state = FD.state;

  function section(root, title, text) {
    const s = h('section', 'card');
    s.appendChild(h('h2', null, title));
    if (text) s.appendChild(h('p', 'muted small', text));
    root.appendChild(s);
    return s;
  }

  function input(form, name, label, attrs) {
    const wrap = h('label', 'field');
    wrap.appendChild(h('span', null, label));
    const i = h(attrs && attrs.tag === 'textarea' ? 'textarea' : 'input');
    i.name = name;
    Object.entries(attrs || {}).forEach(([k, v]) => { if (k !== 'tag') i.setAttribute(k, v); });
    wrap.appendChild(i);
    form.appendChild(wrap);
    return i;
  }

  function submit(form, text) {
    const b = h('button', 'btn btn-primary', text);
    b.type = 'submit';
    form.appendChild(b);
    return b;
  }

  function from(x) {
    return h('span', 'chip chip-from', x === 'config' ? 'config.yaml' : 'dashboard');
  }

  function removeButton(what, fn) {
    const b = h('button', 'btn btn-small btn-danger', 'Remove');
    b.type = 'button';
    b.setAttribute('aria-label', 'Remove ' + what);
    b.addEventListener('click', async () => {
      if (!confirm('Remove ' + what + '?')) return;
      try { await fn(); await load(); FD.toast('Removed.'); } catch (e) { FD.fail(e); }
    });
    return b;
  }

  /* A form whose submit calls fn(values); errors are said beside it. */
  function onSubmit(form, fn) {
    const err = h('p', 'form-error');
    err.hidden = true;
    err.setAttribute('role', 'alert');
    form.appendChild(err);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      const v = Object.fromEntries(new FormData(form).entries());
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      try {
        await fn(v);
      } catch (e) {
        if (e.message !== 'signed out') {
          err.textContent = e.message;
          err.hidden = false;
        }
      } finally {
        btn.disabled = false;
      }
    });
  }

  function passwordCard(root) {
    const s = section(root, 'Your password', 'At least 10 characters; a few words make a good one. ' +
      'Your other sessions end when it changes.');
    const form = h('form', 'stack');
    form.id = 'password-form';
    input(form, 'current', 'Current password', { type: 'password', autocomplete: 'current-password', required: '' });
    input(form, 'password', 'New password', { type: 'password', autocomplete: 'new-password', minlength: '10', required: '' });
    input(form, 'again', 'New password again', { type: 'password', autocomplete: 'new-password', required: '' });
    submit(form, 'Change password');
    onSubmit(form, async (v) => {
      if (v.password !== v.again) throw new Error('the new passwords differ');
      await FD.renew(() => FD.api('POST', '/api/me/password', { current: v.current, password: v.password }));
      form.reset();
      FD.toast('Your password is changed.');
    });
    s.appendChild(form);
  }

  function alertsCard(root) {
    const s = section(root, 'Notifications', 'A desktop notification and a sound for new conversations ' +
      'and for ones that pass their response target, while this page is open. This browser only.');
    const b = h('button', 'btn', FD.alerts && FD.alerts.on() ? 'Turn off' : 'Turn on');
    b.type = 'button';
    b.id = 'alerts-setting';
    b.addEventListener('click', async () => {
      if (!FD.alerts) return;
      await FD.alerts.set(!FD.alerts.on());
      b.textContent = FD.alerts.on() ? 'Turn off' : 'Turn on';
    });
    s.appendChild(b);
  }

  function agentsCard(root, team) {
    const s = section(root, 'Agents', 'Agents from config.yaml are changed there. Those added here sign in ' +
      'with the password you give them and can change it themselves.');
    const table = h('table', 'list');
    table.id = 'agents-table';
    const head = h('tr');
    ['Login', 'Name', 'Role', 'From', ''].forEach((x) => head.appendChild(h('th', null, x)));
    table.appendChild(head);
    team.agents.forEach((a) => {
      const tr = h('tr');
      tr.appendChild(said('td', null, a.login));
      tr.appendChild(said('td', null, a.name));
      tr.appendChild(h('td', null, a.role));
      const f = h('td');
      f.appendChild(from(a.from));
      tr.appendChild(f);
      const act = h('td');
      if (a.from === 'dashboard' && a.login !== state.me.login)
        act.appendChild(removeButton(a.login, () => FD.api('POST', '/api/team/agents/remove', { login: a.login })));
      tr.appendChild(act);
      table.appendChild(tr);
    });
    s.appendChild(table);
    const form = h('form', 'row-form');
    form.id = 'agent-form';
    input(form, 'login', 'Login', { required: '', autocapitalize: 'none', spellcheck: 'false', maxlength: '64' });
    input(form, 'name', 'Name customers see', { required: '', maxlength: '128' });
    const roleWrap = h('label', 'field');
    roleWrap.appendChild(h('span', null, 'Role'));
    const role = h('select');
    role.name = 'role';
    role.appendChild(FD.option('agent', 'agent'));
    role.appendChild(FD.option('admin', 'admin'));
    roleWrap.appendChild(role);
    form.appendChild(roleWrap);
    input(form, 'password', 'Password (10+ characters)', { type: 'password', autocomplete: 'new-password', minlength: '10' });
    submit(form, 'Add or change agent');
    onSubmit(form, async (v) => {
      const body = { login: v.login.trim(), name: v.name.trim(), role: v.role };
      if (v.password) body.password = v.password;
      await FD.api('POST', '/api/team/agents', body);
      form.reset();
      await load();
      FD.toast('Saved ' + body.login + '.');
    });
    s.appendChild(form);
  }

  function labelsCard(root, team, admin) {
    const s = section(root, 'Labels', admin ? 'Labels agents put on conversations. Those from config.yaml ' +
      '(dashboard.labels) are changed there; removing one here takes it off every conversation.' : 'Labels agents put on conversations.');
    const ul = h('ul', 'label-list');
    ul.id = 'labels-list';
    team.labels.forEach((l) => {
      const li = h('li');
      li.appendChild(FD.labelChip(l.name));
      li.appendChild(from(l.from));
      if (admin && l.from === 'dashboard')
        li.appendChild(removeButton('the label ' + l.name, () => FD.api('POST', '/api/team/labels/remove', { name: l.name })));
      ul.appendChild(li);
    });
    if (!team.labels.length) ul.appendChild(h('li', 'muted', 'No labels yet.'));
    s.appendChild(ul);
    if (!admin) return;
    const form = h('form', 'row-form');
    form.id = 'label-form';
    input(form, 'name', 'Label', { required: '', maxlength: '64' });
    input(form, 'color', 'Colour', { type: 'color', value: '#4f46e5' });
    submit(form, 'Add label');
    onSubmit(form, async (v) => {
      await FD.api('POST', '/api/team/labels', { name: v.name.trim(), color: v.color });
      form.reset();
      await load();
    });
    s.appendChild(form);
  }

  function cannedCard(root, team) {
    const s = section(root, 'Canned replies', 'Texts agents pick above the reply box and edit before sending. ' +
      'They may use {{business}}, {{hours}}, {{phone}}, {{email}}, {{ticket}}, {{due}}, {{opens_at}} and {{agent}}. ' +
      'The replies file\'s own canned.* texts are listed too and changed there.');
    const ul = h('ul', 'canned-list');
    ul.id = 'canned-list';
    team.canned.forEach((c) => {
      const li = h('li');
      li.appendChild(said('b', null, c.title));
      li.appendChild(said('p', 'muted small canned-text', c.text));
      const edit = h('button', 'btn btn-small', 'Edit');
      edit.type = 'button';
      edit.addEventListener('click', () => {
        const f = $('canned-form');
        f.elements.title.value = c.title;
        f.elements.text.value = c.text;
        f.elements.text.focus();
      });
      li.appendChild(edit);
      li.appendChild(removeButton('the canned reply ' + c.title, () => FD.api('POST', '/api/team/canned/remove', { title: c.title })));
      ul.appendChild(li);
    });
    (team.canned_in_replies || []).forEach((k) => {
      const li = h('li');
      li.appendChild(said('b', null, k));
      li.appendChild(h('span', 'chip chip-from', 'replies file'));
      ul.appendChild(li);
    });
    s.appendChild(ul);
    const form = h('form', 'stack');
    form.id = 'canned-form';
    input(form, 'title', 'Title', { required: '', maxlength: '80' });
    input(form, 'text', 'Text', { tag: 'textarea', required: '', rows: '4', maxlength: '8192' });
    submit(form, 'Save canned reply');
    onSubmit(form, async (v) => {
      await FD.api('POST', '/api/team/canned', { title: v.title.trim(), text: v.text });
      form.reset();
      await load();
      FD.toast('Saved.');
    });
    s.appendChild(form);
  }

  async function load() {
    const root = $('view-settings');
    let team;
    try { team = await FD.api('GET', '/api/team'); } catch (e) { FD.fail(e); return; }
    FD.setTeam(team);
    FD.clear(root);
    const wrap = h('div', 'settings');
    const title = h('h1', null, 'Settings');
    wrap.appendChild(title);
    const who = h('p', 'muted');
    who.appendChild(said('span', null, state.me.name + ' (' + state.me.login + ')'));
    who.appendChild(document.createTextNode(', ' + (team.admin ? 'admin' : 'agent')));
    wrap.appendChild(who);
    if (state.me.password_changeable) passwordCard(wrap);
    alertsCard(wrap);
    labelsCard(wrap, team, team.admin);
    if (team.admin) {
      agentsCard(wrap, team);
      cannedCard(wrap, team);
    }
    root.appendChild(wrap);
  }

  FD.route(/^#\/settings$/, () => {
    FD.show('settings');
    load();
  });
  FD.key(',', 'Settings', () => FD.go('#/settings'));
})();
