/*
 * dash-search.js - search across conversations (their messages, private
 * notes, and the customer's name, e-mail address or handle) and contacts,
 * with filters: status, priority, channel, assignee, label, dates.  The
 * words and filters live in the address (#/search?q=...&status=...), so a
 * search can be bookmarked and the browser's back button works.
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, h = FD.h, said = FD.said, state = FD.state;

  const FILTERS = ['status', 'priority', 'channel', 'assignee', 'label', 'from', 'to'];

  function select(name, label, options) {
    const wrap = h('label', 'filter');
    wrap.appendChild(h('span', 'muted small', label));
    const sel = h('select');
    sel.name = name;
    sel.appendChild(FD.option('', 'any'));
    options.forEach(([v, t]) => sel.appendChild(FD.option(v, t)));
    wrap.appendChild(sel);
    return wrap;
  }

  function dateInput(name, label) {
    const wrap = h('label', 'filter');
    wrap.appendChild(h('span', 'muted small', label));
    const i = h('input');
    i.type = 'date';
    i.name = name;
    wrap.appendChild(i);
    return wrap;
  }

  /* The view, built once; its fields are filled from the address. */
  let built = null;
  function build() {
    const root = $('view-search');
    FD.clear(root);
    const form = h('form', 'search-page');
    form.setAttribute('role', 'search');
    const q = h('input', 'search-words');
    q.type = 'search';
    q.name = 'q';
    q.maxLength = 200;
    q.placeholder = 'Words from a message, a note, a name or an e-mail address';
    q.setAttribute('aria-label', 'Search for');
    const go = h('button', 'btn btn-primary', 'Search');
    go.type = 'submit';
    const row = h('div', 'search-row');
    row.appendChild(q);
    row.appendChild(go);
    form.appendChild(row);
    const filters = h('div', 'filters');
    filters.appendChild(select('status', 'Status', [['open', 'open'], ['waiting', 'unclaimed'], ['claimed', 'claimed'], ['resolved', 'resolved']]));
    filters.appendChild(select('priority', 'Priority', [['urgent', 'urgent'], ['high', 'high'], ['normal', 'normal'], ['low', 'low']]));
    filters.appendChild(select('channel', 'Channel', []));
    filters.appendChild(select('assignee', 'Assignee', []));
    filters.appendChild(select('label', 'Label', []));
    filters.appendChild(dateInput('from', 'From'));
    filters.appendChild(dateInput('to', 'To'));
    form.appendChild(filters);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      if (q.value.trim()) p.set('q', q.value.trim());
      FILTERS.forEach((f) => { const v = form.elements[f].value; if (v) p.set(f, v); });
      FD.go('#/search?' + p.toString());
    });
    form.addEventListener('change', (ev) => { if (ev.target.tagName === 'SELECT' || ev.target.type === 'date') form.requestSubmit(); });
    root.appendChild(form);
    const results = h('div', 'search-results');
    results.id = 'search-results';
    root.appendChild(results);
    built = form;
    fillChoices();
  }

  /* Channels, agents and labels as the team has them now. */
  function fillChoices() {
    if (!built) return;
    const keep = (name, opts) => {
      const sel = built.elements[name];
      const v = sel.value;
      FD.clear(sel);
      sel.appendChild(FD.option('', 'any'));
      opts.forEach(([val, t]) => sel.appendChild(FD.option(val, t)));
      sel.value = v;
    };
    keep('channel', state.channels.map((c) => [c, c]));
    keep('assignee', [['none', 'nobody']].concat(state.agents.map((a) => [a.login, a.name])));
    keep('label', state.labels.map((l) => [l.name, l.name]));
  }
  FD.on('team', fillChoices);
  FD.on('signedin', fillChoices);

  /* A date field's day, as a time in this browser's zone. */
  function dayStart(v, next) {
    const [y, m, d] = v.split('-').map(Number);
    return FD.iso(new Date(y, m - 1, d + (next ? 1 : 0)));
  }

  let asked = 0;
  async function search(params) {
    if (!built) build();
    const q = params.get('q') || '';
    built.elements.q.value = q;
    FILTERS.forEach((f) => { built.elements[f].value = params.get(f) || ''; });
    $('search-input').value = q;
    const out = $('search-results');
    const api = new URLSearchParams();
    if (q) api.set('q', q);
    FILTERS.forEach((f) => {
      const v = params.get(f);
      if (!v) return;
      if (f === 'from') api.set('from', dayStart(v, false));
      else if (f === 'to') api.set('to', dayStart(v, true));
      else api.set(f, v);
    });
    if (!q && ![...api.keys()].length) {
      FD.clear(out);
      out.appendChild(h('p', 'empty', 'Type a few words, or pick a filter.'));
      return;
    }
    const mine = ++asked;
    let r;
    try { r = await FD.api('GET', '/api/search?' + api.toString()); } catch (e) {
      FD.fail(e, 'Search failed');
      return;
    }
    if (mine !== asked) return;
    FD.clear(out);
    if (r.contacts && r.contacts.length) {
      out.appendChild(h('h2', 'search-head', 'Contacts'));
      const ul = h('ul', 'contact-list');
      r.contacts.forEach((c) => {
        const li = h('li', 'contact-item');
        const a = h('a', 'contact-link');
        a.href = '#/contact/' + c.id;
        a.appendChild(said('b', null, c.name || c.handle || 'Unknown customer'));
        if (c.email) a.appendChild(said('span', 'muted', ' ' + c.email));
        if (c.verified) a.appendChild(h('span', 'chip chip-verified', 'verified'));
        a.appendChild(h('span', 'muted small', ' · ' + c.platform + ' · ' +
          (c.conversations === 1 ? 'one conversation' : c.conversations + ' conversations')));
        li.appendChild(a);
        ul.appendChild(li);
      });
      out.appendChild(ul);
    }
    out.appendChild(h('h2', 'search-head', r.tickets.length ? 'Conversations' : 'No conversation found'));
    const ul = h('ul', 'queue search-tickets');
    r.tickets.forEach((t) => {
      FD.known.set(t.id, Object.assign({}, FD.known.get(t.id) || {}, t));
      ul.appendChild(FD.queueItem(t, false));
    });
    out.appendChild(ul);
    FD.tick();
  }

  FD.route(/^#\/search\??(.*)$/, (m) => {
    FD.show('search');
    search(new URLSearchParams(m[1]));
  });
})();
