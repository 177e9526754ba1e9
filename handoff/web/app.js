/*
 * frontdesk agent dashboard: the shell.  No framework, no build step.
 *
 * This file holds what every view shares, as window.FD:
 *   FD.h / FD.said / FD.clear   DOM helpers (text only, see below)
 *   FD.api(method, path, body)  the JSON API (CSRF, 401 -> sign in again)
 *   FD.state                    who is signed in, the team, the live stream
 *   FD.on(event, fn) / FD.emit  'signedin', 'ticket' (a live event's ticket),
 *                               'reset' (refetch everything), 'tick' (every second),
 *                               'route' (after the location changed)
 *   FD.route(re, fn)            a view: fn(match) when location.hash matches re;
 *                               the first that matches wins, '#/' is the queue
 *   FD.key(keys, help, fn)      a keyboard shortcut, listed under `?`
 *   FD.show(name)               which main area is shown: 'panes', 'search', 'settings',
 *                               'insights'
 * and one file per view adds itself (handoff/web/dash-*.js, loaded after this
 * one, in the order dashboard.html lists them): dash-queue.js (the queue and
 * its tabs), dash-ticket.js (a conversation), dash-contact.js (who the
 * customer is), dash-search.js, dash-settings.js, dash-alerts.js (desktop
 * notifications and sound).  A new view is a new dash-NAME.js and a
 * <script> line; it needs no change here.
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

  const FD = window.FD = {
    $,
    state: {
      me: null,          // {login, name, role}
      csrf: '',
      agents: [],        // [{login, name, role}]
      labels: [],        // [{name, color, from}]
      channels: [],      // platforms of the configured connectors
      seq: 0,
      epoch: '',
      ws: null,
      wsTries: 0,
      wsTimer: 0,
      pingTimer: 0,
      fetching: 0,       // list fetches under way: live events wait for them
      buffered: [],
    },
  };
  const state = FD.state;

  /* ---- events between views ------------------------------------------- */

  const listeners = {};
  FD.on = (ev, fn) => { (listeners[ev] = listeners[ev] || []).push(fn); };
  FD.emit = (ev, arg) => (listeners[ev] || []).forEach((fn) => {
    try { fn(arg); } catch (e) { console.error(e); }
  });

  /* ---- DOM helpers (text only) --------------------------------------- */

  const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
  FD.shown = (text) => String(text).replace(BIDI_CONTROLS, '\uFFFD');

  FD.h = function h(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined && text !== null) el.textContent = FD.shown(text);
    return el;
  };

  /* Text a customer (or anyone) wrote: shown(), in its own direction. */
  FD.said = function said(tag, cls, text) {
    const el = FD.h(tag, cls, text);
    el.dir = 'auto';
    return el;
  };

  /* Text with its http(s) links clickable: text nodes and <a> elements
   * only (never markup from the text), opened in a new tab without
   * giving the page a handle on this one. */
  const LINK = /\bhttps?:\/\/[^\s<>"']+/gi;
  FD.linked = function linked(tag, cls, text) {
    const el = FD.said(tag, cls, null);
    const s = FD.shown(text || '');
    let at = 0, m;
    LINK.lastIndex = 0;
    while ((m = LINK.exec(s))) {
      const url = m[0].replace(/[.,;:!?)\]}]+$/, '');
      if (!url.length) continue;
      if (m.index > at) el.appendChild(document.createTextNode(s.slice(at, m.index)));
      const a = FD.h('a', null, url);
      a.href = url;
      a.target = '_blank';
      a.rel = 'noopener nofollow noreferrer';
      el.appendChild(a);
      at = m.index + url.length;
      LINK.lastIndex = at;
    }
    if (at < s.length) el.appendChild(document.createTextNode(s.slice(at)));
    return el;
  };

  FD.clear = (el) => { while (el.firstChild) el.removeChild(el.firstChild); };

  FD.option = (value, text) => {
    const o = FD.h('option', null, text);
    o.value = value;
    return o;
  };

  /* A label chip in its colour (colours are checked "#rgb"/"#rrggbb" by
   * the server; anything else is not applied). */
  FD.labelChip = (name) => {
    const l = state.labels.find((x) => x.name.toLowerCase() === String(name).toLowerCase());
    const chip = FD.said('span', 'chip chip-label', name);
    if (l && /^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(l.color)) chip.style.setProperty('--label', l.color);
    return chip;
  };

  let toastTimer = 0;
  FD.toast = function toast(msg, bad) {
    const t = $('toast');
    t.textContent = msg;
    t.className = 'toast' + (bad ? ' toast-bad' : '');
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
  };

  FD.agentName = (login) => {
    if (!login) return '';
    const a = state.agents.find((x) => x.login.toLowerCase() === String(login).toLowerCase());
    return a ? a.name : login;
  };

  /* What a ticket's customer is called: the contact's name, else the handle. */
  FD.customer = (t) => t.contact_name || t.author || 'Customer';

  /* ---- time ------------------------------------------------------------ */

  FD.span = function span(seconds) {
    const s = Math.abs(Math.round(seconds));
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    const hrs = Math.floor(m / 60);
    if (hrs < 48) return m % 60 ? hrs + 'h ' + (m % 60) + 'm' : hrs + 'h';
    return hrs % 24 ? Math.floor(hrs / 24) + 'd ' + (hrs % 24) + 'h' : Math.floor(hrs / 24) + 'd';
  };

  FD.clock = function clock(iso) {
    const d = new Date(iso);
    const now = new Date();
    const sameDay = d.toDateString() === now.toDateString();
    const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return sameDay ? t : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + t;
  };

  /* An ISO-8601 time the server takes (no milliseconds). */
  FD.iso = (date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

  FD.snoozed = (t) => !!t.snoozed_until && Date.parse(t.snoozed_until) > Date.now();

  /* The countdown to a ticket's response target. */
  FD.dueText = function dueText(t, now) {
    if (t.status === 'resolved') return { text: 'resolved', cls: 'due-done' };
    if (FD.snoozed(t)) return { text: 'snoozed until ' + FD.clock(t.snoozed_until), cls: 'due-snoozed' };
    const reopened = t.reopened && (!t.first_response || Date.parse(t.reopened) > Date.parse(t.first_response));
    if (t.first_response && !(reopened && t.status === 'waiting')) return { text: 'answered', cls: 'due-done' };
    if (!t.due) return { text: '', cls: '' };
    const left = (Date.parse(t.due) - now) / 1000;
    if (left < 0) return { text: 'overdue ' + FD.span(left), cls: 'due-over' };
    return { text: 'due in ' + FD.span(left), cls: left < 900 ? 'due-soon' : 'due-ok' };
  };

  /* Tickets any view knows, for the countdowns: id -> ticket. */
  FD.known = new Map();

  function tick() {
    const now = Date.now();
    document.querySelectorAll('[data-due-id]').forEach((el) => {
      const t = FD.known.get(Number(el.getAttribute('data-due-id')));
      if (!t) return;
      const d = FD.dueText(t, now);
      el.textContent = d.text;
      el.className = 'due ' + d.cls;
    });
    FD.emit('tick', now);
  }
  FD.tick = tick;

  /* ---- HTTP -------------------------------------------------------------- */

  FD.api = async function api(method, path, body) {
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
    /* Every GET answers a JSON object: none means the answer was cut
     * short (the daemon stopping or restarting), which is a failure like
     * any other, not an empty result. */
    if (method === 'GET' && (data === null || typeof data !== 'object')) throw new Error('no answer');
    return data;
  };

  /* A failed action, said once (a sign-out shows the login form instead). */
  FD.fail = (e, what) => { if (e.message !== 'signed out') FD.toast((what ? what + ': ' : '') + e.message, true); };

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

  /* The team as /api/me and /api/team give it. */
  FD.setTeam = (t) => {
    if (t.agents) state.agents = t.agents;
    if (t.labels) state.labels = t.labels;
    FD.emit('team');
  };

  function signedIn(me) {
    state.me = me.agent;
    state.csrf = me.csrf;
    state.channels = me.channels || [];
    FD.setTeam(me);
    $('login').hidden = true;
    $('app').hidden = false;
    $('me').textContent = me.agent.name;
    FD.emit('signedin', me);
    route();
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('login-error');
    const btn = $('login-submit');
    err.hidden = true;
    btn.disabled = true;
    try {
      const me = await FD.api('POST', '/api/login', { login: $('login-name').value.trim(), password: $('login-password').value });
      $('login-password').value = '';
      signedIn(me);
    } catch (e) {
      err.textContent = e.status === 429
        ? 'Too many attempts. Try again in ' + FD.span(e.retryAfter || 1) + '.'
        : e.status === 401 ? 'Wrong login or password.' : 'Could not sign in: ' + e.message;
      err.hidden = false;
    } finally {
      btn.disabled = false;
    }
  });

  $('logout').addEventListener('click', async () => {
    try { await FD.api('POST', '/api/logout'); } catch (e) { /* signed out either way */ }
    state.me = null;
    showLogin();
  });

  /* ---- views and routes ------------------------------------------------------ */

  const routes = [];
  FD.route = (re, fn) => routes.push({ re, fn });

  FD.show = (name) => {
    $('panes').hidden = name !== 'panes';
    $('view-search').hidden = name !== 'search';
    $('view-settings').hidden = name !== 'settings';
    $('view-insights').hidden = name !== 'insights';
    document.body.setAttribute('data-view', name);
  };

  function route() {
    if (!state.me) return;
    const hash = location.hash || '#/';
    for (const r of routes) {
      const m = r.re.exec(hash);
      if (m) {
        r.fn(m);
        break;
      }
    }
    FD.emit('route', hash);
  }
  FD.go = (hash) => { if (location.hash === hash) route(); else location.hash = hash; };
  window.addEventListener('hashchange', route);

  /* ---- keyboard shortcuts ------------------------------------------------------ */

  const keys = [];
  FD.key = (combo, help, fn) => keys.push({ combo, help, fn });

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function openHelp() {
    const dl = $('help-keys');
    FD.clear(dl);
    keys.forEach((k) => {
      const dt = FD.h('dt');
      k.combo.split(' / ').forEach((c, i) => {
        if (i) dt.appendChild(document.createTextNode(' / '));
        dt.appendChild(FD.h('kbd', null, c));
      });
      dl.appendChild(dt);
      dl.appendChild(FD.h('dd', null, k.help));
    });
    $('help').hidden = false;
    $('help-close').focus();
  }
  function closeHelp() { $('help').hidden = true; }
  $('help-open').addEventListener('click', openHelp);
  $('help-close').addEventListener('click', closeHelp);
  $('help').addEventListener('click', (ev) => { if (ev.target === $('help')) closeHelp(); });

  FD.key('?', 'Show these shortcuts', openHelp);
  FD.key('/', 'Search', () => $('search-input').focus());
  FD.key('Esc', 'Close this list, or leave the text you are typing in', () => {});

  document.addEventListener('keydown', (ev) => {
    if (!state.me) return;
    if (ev.key === 'Escape') {
      if (!$('help').hidden) { closeHelp(); ev.preventDefault(); return; }
      if (typing(document.activeElement)) { document.activeElement.blur(); return; }
      FD.emit('escape');
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target) || !$('help').hidden) return;
    const k = keys.find((x) => x.combo.split(' / ').includes(ev.key));
    if (k) {
      ev.preventDefault();
      k.fn(ev);
    }
  });

  /* ---- the search box (the search view does the rest) ------------------------- */

  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = $('search-input').value.trim();
    FD.go('#/search?q=' + encodeURIComponent(q));
  });

  /* ---- live updates ------------------------------------------------------------ */

  function applyEvent(e) {
    if (e.seq <= state.seq) return;
    state.seq = e.seq;
    FD.known.set(e.ticket.id, Object.assign({}, FD.known.get(e.ticket.id) || {}, e.ticket));
    FD.emit('ticket', e.ticket);
  }

  /* A view fetching a list asks live events to wait, and gets the stream's
   * position with the list: events older than it are already in it. */
  FD.fetching = () => { state.fetching++; };
  FD.fetched = (seq, epoch) => {
    state.fetching = Math.max(0, state.fetching - 1);
    if (seq !== undefined && seq > state.seq) state.seq = seq;
    if (epoch) state.epoch = epoch;
    if (state.fetching) return;
    const later = state.buffered.filter((e) => e.seq > state.seq);
    state.buffered = [];
    later.forEach(applyEvent);
    if (!state.ws) openLive();
  };

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
      } else if (e.type === 'typing') {
        FD.emit('typing', e);
      } else if (e.type === 'reset') {
        /* Too much was missed, or the daemon restarted (sequence numbers
         * start again): fetch everything anew. */
        state.seq = e.seq;
        FD.emit('reset');
      }
    };
    ws.onclose = (ev) => {
      clearInterval(state.pingTimer);
      state.ws = null;
      /* A changed password ends the old session: the page has a new one. */
      if (ev.code === 4401 && state.renewing) return;
      if (ev.code === 4401) { showLogin(); return; }
      setLive(false, 'Reconnecting');
      const delay = Math.min(10000, 500 * Math.pow(2, state.wsTries++)) * (0.5 + Math.random() / 2);
      state.wsTimer = setTimeout(async () => {
        /* A refused upgrade looks like any close: ask whether we are still signed in. */
        try { await FD.api('GET', '/api/me'); } catch (e) { if (e.message === 'signed out') return; }
        openLive();
      }, delay);
    };
  }
  FD.reconnect = () => { if (state.me) openLive(); };

  /* A session renewed by the server (a password change): the new CSRF
   * token, and the live stream reopened with the new cookie. */
  FD.renew = async (fn) => {
    state.renewing = true;
    try {
      const r = await fn();
      if (r && r.csrf) state.csrf = r.csrf;
      return r;
    } finally {
      state.renewing = false;
      openLive();
    }
  };

  /* ---- start (after every view has registered itself) ---------------------------- */

  setInterval(tick, 1000);
  document.addEventListener('DOMContentLoaded', () => {
    FD.api('GET', '/api/me').then(signedIn).catch(() => { if (!state.me) showLogin(); });
  });
})();
