/*
 * frontdesk agent dashboard.  No framework, no build step.
 *
 * Every piece of text that comes from a customer (or from the server at all)
 * reaches the page through textContent or a form control's value, never
 * through innerHTML: a message carrying markup shows as that markup.  Bidi
 * embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069) in
 * it are shown as U+FFFD, as the queue command line shows them (markup.h),
 * so a message reads in the order it was written; customer text also sits
 * in its own direction (dir=auto), so right-to-left writing stays intact
 * without turning the page around it.
 */
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  const state = {
    me: null,            // {login, name}
    csrf: '',
    agents: [],
    filter: 'open',
    tickets: new Map(),  // id -> ticket summary (the list for the current filter)
    current: null,       // the open ticket with messages
    currentId: 0,
    seq: 0,
    epoch: '',
    ws: null,
    wsTries: 0,
    wsTimer: 0,
    pingTimer: 0,
    fetching: false,
    buffered: [],        // events received while the list is being fetched
    canned: [],
  };

  const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };
  const REASONS = {
    rule: 'Escalation rule',
    negative: 'Unhappy customer',
    unmatched: 'Unanswered question',
    requested_human: 'Asked for a person',
    abusive: 'Abusive message',
  };
  const EVENTS = {
    released: 'released the conversation',
    resolved: 'resolved the conversation',
    opened: 'Conversation escalated',
    due_soon: 'Response target is near',
    missed: 'Response target missed',
    reply: null,
    message: null,
  };

  /* ---- DOM helpers (text only) --------------------------------------- */

  const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
  function shown(text) {
    return String(text).replace(BIDI_CONTROLS, '\uFFFD');
  }

  function h(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined && text !== null) el.textContent = shown(text);
    return el;
  }

  /* Text a customer wrote: shown(), in its own direction. */
  function said(tag, cls, text) {
    const el = h(tag, cls, text);
    el.dir = 'auto';
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  let toastTimer = 0;
  function toast(msg, bad) {
    const t = $('toast');
    t.textContent = msg;
    t.className = 'toast' + (bad ? ' toast-bad' : '');
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  function agentName(login) {
    if (!login) return '';
    const a = state.agents.find((x) => x.login === login);
    return a ? a.name : login;
  }

  /* ---- time ------------------------------------------------------------ */

  function span(seconds) {
    const s = Math.abs(Math.round(seconds));
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    const hrs = Math.floor(m / 60);
    if (hrs < 48) return m % 60 ? hrs + 'h ' + (m % 60) + 'm' : hrs + 'h';
    return hrs % 24 ? Math.floor(hrs / 24) + 'd ' + (hrs % 24) + 'h' : Math.floor(hrs / 24) + 'd';
  }

  function clock(iso) {
    const d = new Date(iso);
    const now = new Date();
    const sameDay = d.toDateString() === now.toDateString();
    const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return sameDay ? t : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + t;
  }

  /* The countdown to a ticket's response target, refreshed every second. */
  function dueText(t, now) {
    if (t.status === 'resolved') return { text: 'resolved', cls: 'due-done' };
    if (t.first_response) return { text: 'answered', cls: 'due-done' };
    if (!t.due) return { text: '', cls: '' };
    const left = (Date.parse(t.due) - now) / 1000;
    if (left < 0) return { text: 'overdue ' + span(left), cls: 'due-over' };
    return { text: 'due in ' + span(left), cls: left < 900 ? 'due-soon' : 'due-ok' };
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll('[data-due-id]').forEach((el) => {
      const id = Number(el.getAttribute('data-due-id'));
      const t = state.tickets.get(id) || (state.current && state.current.id === id ? state.current : null);
      if (!t) return;
      const d = dueText(t, now);
      el.textContent = d.text;
      el.className = 'due ' + d.cls;
    });
  }

  /* ---- HTTP -------------------------------------------------------------- */

  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin' };
    if (method !== 'GET') {
      opts.headers['X-CSRF-Token'] = state.csrf;
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body || {});
    }
    const r = await fetch(path, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401 && path !== '/api/login') {
      showLogin();
      throw new Error('signed out');
    }
    if (!r.ok) {
      const err = new Error((data && data.error) || ('HTTP ' + r.status));
      err.status = r.status;
      err.retryAfter = Number(r.headers.get('Retry-After') || 0);
      throw err;
    }
    return data;
  }

  /* ---- login --------------------------------------------------------------- */

  function showLogin() {
    closeLive();
    if (state.me) {
      /* The session ended under us: logout elsewhere, expiry, a restart. */
      $('login-error').textContent = 'Your session ended. Please sign in again.';
      $('login-error').hidden = false;
    }
    state.me = null;
    $('app').hidden = true;
    $('login').hidden = false;
    document.title = 'frontdesk · sign in';
    $('login-name').focus();
  }

  function signedIn(me) {
    state.me = me.agent;
    state.csrf = me.csrf;
    state.agents = me.agents || [];
    $('login').hidden = true;
    $('app').hidden = false;
    $('me').textContent = me.agent.name;
    fillAssign();
    route();
    loadList();
    loadStats();
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('login-error');
    const btn = $('login-submit');
    err.hidden = true;
    btn.disabled = true;
    try {
      const me = await api('POST', '/api/login', { login: $('login-name').value.trim(), password: $('login-password').value });
      $('login-password').value = '';
      signedIn(me);
    } catch (e) {
      err.textContent = e.status === 429
        ? 'Too many attempts. Try again in ' + span(e.retryAfter || 1) + '.'
        : e.status === 401 ? 'Wrong login or password.' : 'Could not sign in: ' + e.message;
      err.hidden = false;
    } finally {
      btn.disabled = false;
    }
  });

  $('logout').addEventListener('click', async () => {
    try { await api('POST', '/api/logout'); } catch (e) { /* signed out either way */ }
    state.me = null;
    showLogin();
  });

  /* ---- queue --------------------------------------------------------------- */

  function inFilter(t) {
    switch (state.filter) {
    case 'open': return t.status === 'waiting' || t.status === 'claimed';
    case 'mine': return t.status === 'claimed' && state.me && t.assignee === state.me.login;
    case 'waiting': return t.status === 'waiting';
    case 'resolved': return t.status === 'resolved';
    }
    return true;
  }

  function compare(a, b) {
    if (state.filter === 'resolved') return Date.parse(b.resolved || 0) - Date.parse(a.resolved || 0) || b.id - a.id;
    const da = a.due ? Date.parse(a.due) : Infinity;
    const db = b.due ? Date.parse(b.due) : Infinity;
    if (da !== db) return da - db;
    return (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9) || a.id - b.id;
  }

  async function loadList() {
    state.fetching = true;
    state.buffered = [];
    const status = state.filter === 'mine' ? 'claimed' : state.filter;
    try {
      const r = await api('GET', '/api/tickets?status=' + encodeURIComponent(status));
      state.tickets.clear();
      r.tickets.forEach((t) => { if (inFilter(t)) state.tickets.set(t.id, t); });
      state.seq = r.seq;
      state.epoch = r.epoch;
      state.fetching = false;
      const later = state.buffered.filter((e) => e.seq > r.seq);
      state.buffered = [];
      later.forEach(applyEvent);
      renderQueue();
      if (!state.ws) openLive();
    } catch (e) {
      state.fetching = false;
      if (e.message !== 'signed out') toast('Could not load the queue: ' + e.message, true);
    }
  }

  function badge(priority) {
    return h('span', 'badge badge-' + (priority || 'normal'), priority || 'normal');
  }

  function queueItem(t) {
    const li = h('li', 'qi' + (t.id === state.currentId ? ' qi-active' : '') + (t.status === 'claimed' ? ' qi-claimed' : ''));
    li.setAttribute('data-id', String(t.id));
    const a = h('a', 'qi-link');
    a.href = '#/ticket/' + t.id;

    const top = h('div', 'qi-top');
    top.appendChild(badge(t.priority));
    top.appendChild(said('span', 'qi-author', t.author || 'unknown'));
    const due = h('span', 'due');
    due.setAttribute('data-due-id', String(t.id));
    top.appendChild(due);
    a.appendChild(top);

    const meta = h('div', 'qi-meta');
    meta.appendChild(h('span', 'qi-reason', REASONS[t.reason] || t.reason || 'Escalated'));
    meta.appendChild(h('span', 'chip', t.platform));
    if (t.assignee) meta.appendChild(h('span', 'chip chip-agent', agentName(t.assignee)));
    if (t.missed) meta.appendChild(h('span', 'chip chip-missed', 'target missed'));
    meta.appendChild(h('span', 'qi-id', '#' + t.id));
    a.appendChild(meta);

    // The message that caused the escalation, and the customer's latest
    // when they wrote again since (the same read model as `queue list`).
    if (t.opening_message && t.opening_message !== t.last_message) {
      a.appendChild(said('p', 'qi-preview qi-opening', t.opening_message));
      const latest = h('p', 'qi-preview', 'Latest: ');
      latest.appendChild(said('span', '', t.last_message || ''));
      a.appendChild(latest);
    } else {
      a.appendChild(said('p', 'qi-preview', t.last_message || ''));
    }
    li.appendChild(a);
    return li;
  }

  function renderQueue() {
    const ul = $('queue');
    clear(ul);
    const list = Array.from(state.tickets.values()).filter(inFilter).sort(compare);
    list.forEach((t) => ul.appendChild(queueItem(t)));
    $('queue-empty').hidden = list.length > 0;
    $('queue-empty').textContent = state.filter === 'resolved' ? 'No resolved conversations yet.'
      : state.filter === 'mine' ? 'You have no conversations. Claim one from Open.'
        : 'Nothing waiting. The bot has it covered.';
    document.querySelectorAll('.tab').forEach((b) => {
      const on = b.getAttribute('data-filter') === state.filter;
      b.classList.toggle('tab-on', on);
      b.setAttribute('aria-selected', on ? 'true' : 'false');
    });
    const waiting = list.filter((t) => t.status === 'waiting').length;
    document.title = (waiting ? '(' + waiting + ') ' : '') + 'frontdesk · dashboard';
    tick();
  }

  document.querySelectorAll('.tab').forEach((b) => b.addEventListener('click', () => {
    state.filter = b.getAttribute('data-filter');
    loadList();
  }));

  /* ---- stats ----------------------------------------------------------------- */

  let statsTimer = 0;
  function stat(label, value, cls, title) {
    const s = h('span', 'stat' + (cls ? ' ' + cls : ''));
    if (title) s.title = title;
    s.appendChild(h('b', null, value));
    s.appendChild(h('span', null, label));
    return s;
  }

  async function loadStats() {
    clearTimeout(statsTimer);
    statsTimer = setTimeout(loadStats, 30000);
    let s;
    try { s = await api('GET', '/api/stats'); } catch (e) { return; }
    const el = $('stats');
    clear(el);
    el.appendChild(stat('waiting', s.waiting));
    el.appendChild(stat('claimed', s.claimed));
    el.appendChild(stat('overdue', s.overdue, s.overdue ? 'stat-bad' : ''));
    const week = 'over the last ' + Math.round(s.window_seconds / 86400) + ' days';
    el.appendChild(stat('first reply', s.first_response.median === null ? '–' : span(s.first_response.median), '',
      'Median time to the first reply ' + week + (s.first_response.p90 === null ? '' : '; 90% within ' + span(s.first_response.p90))));
    el.appendChild(stat('resolution', s.resolution.median === null ? '–' : span(s.resolution.median), '',
      'Median time to resolution ' + week + (s.resolution.p90 === null ? '' : '; 90% within ' + span(s.resolution.p90))));
    el.appendChild(stat('missed (7d)', s.missed, s.missed ? 'stat-warn' : '', 'Response targets missed ' + week));
  }

  /* After a change, at most one refresh per 700 ms however many events come. */
  let statsSoonTimer = 0;
  function statsSoon() {
    if (statsSoonTimer) return;
    statsSoonTimer = setTimeout(() => { statsSoonTimer = 0; loadStats(); }, 700);
  }

  /* ---- conversation ------------------------------------------------------------ */

  function route() {
    const m = /^#\/ticket\/(\d+)$/.exec(location.hash);
    const id = m ? Number(m[1]) : 0;
    state.currentId = id;
    document.body.classList.toggle('show-ticket', id > 0);
    if (!id) {
      state.current = null;
      $('ticket').hidden = true;
      $('ticket-none').hidden = false;
      renderQueue();
      return;
    }
    loadTicket(id, true);
    loadCanned(id);
    renderQueue();
  }
  window.addEventListener('hashchange', () => { if (state.me) route(); });

  $('back').addEventListener('click', () => { location.hash = '#/'; });

  let ticketLoad = 0;
  async function loadTicket(id, scroll) {
    const mine = ++ticketLoad;
    let t;
    try { t = await api('GET', '/api/tickets/' + id); } catch (e) {
      if (e.status === 404) { toast('No ticket #' + id, true); location.hash = '#/'; }
      return;
    }
    if (mine !== ticketLoad || state.currentId !== id) return;
    state.current = t;
    renderTicket(scroll);
  }

  function bubble(m) {
    const li = h('li', 'msg msg-' + m.from + (m.state === 'pending' ? ' msg-pending' : '') + (m.state === 'failed' ? ' msg-failed' : ''));
    const who = m.from === 'customer' ? (state.current.author || 'Customer')
      : m.from === 'agent' ? (m.agent || 'Agent') : 'Bot';
    const head = h('div', 'msg-head');
    head.appendChild(h('span', 'msg-who', who));
    head.appendChild(h('time', 'msg-time', clock(m.ts)));
    if (m.state === 'pending') head.appendChild(h('span', 'msg-state', 'sending…'));
    if (m.state === 'failed') head.appendChild(h('span', 'msg-state', 'not delivered'));
    li.appendChild(head);
    li.appendChild(said('div', 'msg-text', m.text));
    return li;
  }

  function eventLine(e) {
    /* A claim and an assignment both record who has it now. */
    let text = e.kind === 'claimed' ? 'Now with ' + agentName(e.actor)
      : e.kind === 'emailed' ? 'The customer had left the chat: also sent by e-mail to ' + (e.detail || 'them')
        : EVENTS[e.kind];
    if (text === null) return null;
    if (text === undefined) text = e.kind.replace(/_/g, ' ');
    if (e.actor && /^(released|resolved)$/.test(e.kind)) text = agentName(e.actor) + ' ' + text;
    else if (/^[a-z]/.test(text)) text = text.charAt(0).toUpperCase() + text.slice(1);
    const li = h('li', 'ev');
    li.appendChild(h('span', null, text + ' · ' + clock(e.ts)));
    return li;
  }

  function renderTicket(scroll) {
    const t = state.current;
    const thread = $('thread');
    const nearBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
    $('ticket-none').hidden = true;
    $('ticket').hidden = false;
    $('t-title').textContent = shown(t.author || 'Customer') + ' · #' + t.id;

    /* Where the platform shows who wrote a reply (web chat) the customer
     * sees the name; elsewhere (Mastodon) the reply is signed. */
    $('sign-hint').textContent = t.reply_signed
      ? 'Signed “— ' + state.me.name + '” automatically (' + t.platform + ' does not show who wrote it)'
      : 'The customer sees your name, ' + state.me.name + ', beside the reply';
    if (t.email && t.platform === 'webchat')
      $('sign-hint').textContent += '. If they have left the chat, it also goes by e-mail to ' + shown(t.email);

    const meta = $('t-meta');
    clear(meta);
    meta.appendChild(badge(t.priority));
    meta.appendChild(h('span', 'chip', t.platform + (t.private ? ' · private' : ' · public')));
    meta.appendChild(h('span', 'chip chip-status chip-' + t.status,
      t.status === 'claimed' ? 'claimed by ' + agentName(t.assignee) : t.status));
    meta.appendChild(h('span', 'qi-reason', REASONS[t.reason] || t.reason || ''));
    if (t.email) meta.appendChild(said('span', 'chip chip-email', 'e-mail: ' + t.email));

    const sla = $('t-sla');
    clear(sla);
    const due = h('span', 'due');
    due.setAttribute('data-due-id', String(t.id));
    sla.appendChild(due);
    if (t.due) sla.appendChild(h('span', 'muted', 'target ' + clock(t.due)));
    if (t.first_response) sla.appendChild(h('span', 'muted', 'first reply after ' + span((Date.parse(t.first_response) - Date.parse(t.created)) / 1000)));
    if (t.resolved) sla.appendChild(h('span', 'muted', 'resolved after ' + span((Date.parse(t.resolved) - Date.parse(t.created)) / 1000)));
    if (t.missed) sla.appendChild(h('span', 'chip chip-missed', 'target missed'));

    /* Messages in order; an event right after the message that caused it
     * (the escalation after the customer's words), others by time. */
    const items = [];
    const pos = new Map();
    (t.messages || []).forEach((m, i) => {
      pos.set(m.id, i);
      items.push({ ts: Date.parse(m.ts), rank: i, sub: 0, el: bubble(m) });
    });
    let floor = -1; // an event comes after every message an earlier event named
    (t.events || []).forEach((e, i) => {
      const ts = Date.parse(e.ts);
      let rank;
      if (pos.has(e.message_id)) {
        rank = pos.get(e.message_id);
        floor = Math.max(floor, rank);
      } else {
        rank = Math.max(floor, items.filter((x) => x.sub === 0 && x.ts < ts).length - 1);
      }
      const el = eventLine(e);
      if (el) items.push({ ts, rank, sub: 1 + i, el });
    });
    items.sort((a, b) => a.rank - b.rank || a.sub - b.sub);
    clear(thread);
    items.forEach((i) => thread.appendChild(i.el));
    if (scroll || nearBottom) thread.scrollTop = thread.scrollHeight;

    const open = t.status !== 'resolved';
    const mine = t.status === 'claimed' && state.me && t.assignee === state.me.login;
    $('a-claim').hidden = !open || mine;
    $('a-claim').textContent = t.status === 'claimed' ? 'Take over' : 'Claim';
    $('a-release').hidden = t.status !== 'claimed';
    $('a-resolve').hidden = !open;
    $('a-assign').parentNode.hidden = !open || state.agents.length < 2;
    $('a-assign').value = '';
    const other = t.status === 'claimed' && !mine;
    $('reply').hidden = !open || other;
    $('reply-held').hidden = !open || !other;
    $('reply-held').textContent = other ? agentName(t.assignee) + ' has this conversation. Take it over to reply.' : '';
    $('reply-text').placeholder = t.status === 'waiting' ? 'Write a reply (sending it claims the conversation)…' : 'Write a reply…';
    tick();
  }

  function fillAssign() {
    const sel = $('a-assign');
    clear(sel);
    const first = h('option', null, 'Reassign…');
    first.value = '';
    sel.appendChild(first);
    state.agents.forEach((a) => {
      const o = h('option', null, a.name);
      o.value = a.login;
      sel.appendChild(o);
    });
  }

  async function act(action, body) {
    const id = state.currentId;
    if (!id) return;
    try {
      const t = await api('POST', '/api/tickets/' + id + '/' + action, body);
      updateTicket(t);
      await loadTicket(id, action === 'reply');
      return true;
    } catch (e) {
      if (e.status === 409 && action === 'claim' && /claimed by/.test(e.message)) {
        if (confirm('This conversation is ' + e.message.replace(/^already /, '') + '. Take it over?')) return act('claim', { take_over: true });
        return false;
      }
      if (e.message !== 'signed out') toast(e.message, true);
      return false;
    }
  }

  $('a-claim').addEventListener('click', () => act('claim', { take_over: $('a-claim').textContent === 'Take over' }));
  $('a-release').addEventListener('click', () => act('release'));
  $('a-resolve').addEventListener('click', async () => {
    if (await act('resolve')) toast('Resolved. The bot answers this customer again.');
  });
  $('a-assign').addEventListener('change', async () => {
    const login = $('a-assign').value;
    if (login && await act('assign', { login })) toast('Assigned to ' + agentName(login) + '.');
  });

  $('reply').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ta = $('reply-text');
    const text = ta.value.trim();
    if (!text) return;
    $('reply-submit').disabled = true;
    $('reply-error').hidden = true;
    if (await act('reply', { text })) ta.value = '';
    $('reply-submit').disabled = false;
    ta.focus();
  });

  $('reply-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      $('reply').requestSubmit();
    }
  });

  async function loadCanned(id) {
    let r;
    try { r = await api('GET', '/api/canned?ticket=' + id); } catch (e) { return; }
    state.canned = r.replies || [];
    const sel = $('canned');
    clear(sel);
    const first = h('option', null, state.canned.length ? 'Canned replies…' : 'No canned replies');
    first.value = '';
    sel.appendChild(first);
    state.canned.forEach((c, i) => {
      const o = h('option', null, c.title);
      o.value = String(i);
      sel.appendChild(o);
    });
  }

  $('canned').addEventListener('change', () => {
    const c = state.canned[Number($('canned').value)];
    if (!c) return;
    const ta = $('reply-text');
    ta.value = ta.value.trim() ? ta.value.trimEnd() + '\n\n' + c.text : c.text;
    $('canned').value = '';
    ta.focus();
  });

  /* ---- live updates ------------------------------------------------------------ */

  function updateTicket(t) {
    if (inFilter(t)) state.tickets.set(t.id, t);
    else state.tickets.delete(t.id);
    renderQueue();
  }

  let detailTimer = 0;
  function applyEvent(e) {
    if (e.seq <= state.seq) return;
    state.seq = e.seq;
    const t = e.ticket;
    updateTicket(t);
    if (t.id === state.currentId) {
      clearTimeout(detailTimer);
      detailTimer = setTimeout(() => loadTicket(t.id, false), 50);
    }
    statsSoon();
  }

  function setLive(on, text) {
    $('live').className = 'live ' + (on ? 'live-on' : 'live-off');
    $('live-text').textContent = text;
  }

  function closeLive() {
    clearTimeout(state.wsTimer);
    clearInterval(state.pingTimer);
    if (state.ws) {
      state.ws.onclose = null;
      state.ws.close();
      state.ws = null;
    }
  }

  function openLive() {
    closeLive();
    if (!state.me) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = proto + '//' + location.host + '/api/live?since=' + state.seq +
      '&epoch=' + encodeURIComponent(state.epoch) + '&csrf=' + encodeURIComponent(state.csrf);
    const ws = new WebSocket(url);
    state.ws = ws;
    ws.onopen = () => {
      state.wsTries = 0;
      setLive(true, 'Live');
      state.pingTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"ping"}');
      }, 25000);
    };
    ws.onmessage = (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch (x) { return; }
      if (e.type === 'ticket') {
        if (state.fetching) state.buffered.push(e);
        else applyEvent(e);
      } else if (e.type === 'reset') {
        /* Too much was missed, or the daemon restarted (sequence numbers
         * start again): fetch everything anew. */
        state.seq = e.seq;
        loadList();
        loadStats();
        if (state.currentId) loadTicket(state.currentId, false);
      }
    };
    ws.onclose = (ev) => {
      clearInterval(state.pingTimer);
      state.ws = null;
      if (ev.code === 4401) { showLogin(); return; }
      setLive(false, 'Reconnecting');
      const delay = Math.min(10000, 500 * Math.pow(2, state.wsTries++)) * (0.5 + Math.random() / 2);
      state.wsTimer = setTimeout(async () => {
        /* A refused upgrade looks like any close: ask whether we are still signed in. */
        try { await api('GET', '/api/me'); } catch (e) { if (e.message === 'signed out') return; }
        openLive();
      }, delay);
    };
  }

  /* ---- start ----------------------------------------------------------------- */

  setInterval(tick, 1000);
  api('GET', '/api/me').then(signedIn).catch(() => { if (!state.me) showLogin(); });
})();
