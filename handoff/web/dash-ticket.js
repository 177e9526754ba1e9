/*
 * dash-ticket.js - one conversation: its messages, private notes and history
 * in order; claim, release, resolve, reopen, snooze, reassign; priority and
 * labels; the composer, which writes a reply to the customer or a private
 * note (agents only, never sent); canned replies.
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, h = FD.h, said = FD.said, state = FD.state, Q = FD.queue;

  const T = FD.ticket = { current: null, canned: [], mode: 'reply' };

  const EVENTS = {
    released: 'released the conversation',
    resolved: 'resolved the conversation',
    reopened: 'reopened the conversation',
    opened: 'Conversation escalated',
    due_soon: 'Response target is near',
    missed: 'Response target missed',
    woken: 'took the conversation out of snooze',
    rating_asked: 'The customer was asked to rate the conversation',
    reply: null,
    message: null,
    note: null,
  };

  function route(m) {
    const id = Number(m[1]);
    Q.currentId = id;
    FD.show('panes');
    document.body.classList.add('show-ticket');
    if (!T.current || T.current.id !== id) T.current = null;
    load(id, true);
    loadCanned(id);
    Q.render();
  }
  FD.route(/^#\/ticket\/(\d+)$/, route);

  $('back').addEventListener('click', () => { location.hash = '#/'; });

  let loading = 0;
  async function load(id, scroll) {
    const mine = ++loading;
    let t;
    try { t = await FD.api('GET', '/api/tickets/' + id); } catch (e) {
      if (e.status === 404) { FD.toast('No ticket #' + id, true); location.hash = '#/'; }
      return;
    }
    if (mine !== loading || Q.currentId !== id) return;
    T.current = t;
    FD.known.set(t.id, Object.assign({}, FD.known.get(t.id) || {}, t));
    render(scroll);
    FD.markSeen(t);
    FD.emit('ticket-shown', t);
  }
  T.load = load;

  function bubble(m) {
    const t = T.current;
    const li = h('li', 'msg msg-' + m.from + (m.state === 'pending' ? ' msg-pending' : '') + (m.state === 'failed' ? ' msg-failed' : ''));
    const who = m.from === 'customer' ? FD.customer(t) : m.from === 'agent' ? (m.agent || 'Agent') : 'Bot';
    const head = h('div', 'msg-head');
    head.appendChild(said('span', 'msg-who', who));
    head.appendChild(h('time', 'msg-time', FD.clock(m.ts)));
    if (m.state === 'pending') head.appendChild(h('span', 'msg-state', 'sending…'));
    if (m.state === 'failed') head.appendChild(h('span', 'msg-state', 'not delivered'));
    li.appendChild(head);
    li.appendChild(FD.linked('div', 'msg-text', m.text));
    return li;
  }

  /* A private note: marked as such, in its own colour, never a bubble of
   * the conversation with the customer. */
  function noteBubble(e) {
    const li = h('li', 'msg msg-note');
    const head = h('div', 'msg-head');
    head.appendChild(h('span', 'note-mark', 'Private note'));
    head.appendChild(said('span', 'msg-who', FD.agentName(e.actor)));
    head.appendChild(h('time', 'msg-time', FD.clock(e.ts)));
    head.appendChild(h('span', 'msg-state', 'only agents see this'));
    li.appendChild(head);
    li.appendChild(FD.linked('div', 'msg-text', e.detail || ''));
    return li;
  }

  function eventLine(e) {
    if (e.kind === 'note') return noteBubble(e);
    /* A claim and an assignment both record who has it now. */
    let text;
    if (e.kind === 'claimed') text = 'Now with ' + FD.agentName(e.actor);
    else if (e.kind === 'labeled') text = FD.agentName(e.actor) + ' added the label ' + (e.detail || '');
    else if (e.kind === 'unlabeled') text = FD.agentName(e.actor) + ' removed the label ' + (e.detail || '');
    else if (e.kind === 'priority') text = FD.agentName(e.actor) + ' changed the priority to ' + (e.detail || '');
    else if (e.kind === 'snoozed') text = FD.agentName(e.actor) + ' snoozed it until ' + (e.detail ? FD.clock(e.detail) : '…');
    else if (e.kind === 'rated') text = 'The customer rated the conversation ' + (e.detail || '?') + '/5';
    else if (e.kind === 'emailed') text = 'The customer had left the chat: also sent by e-mail to ' + (e.detail || 'them');
    else text = EVENTS[e.kind];
    if (text === null) return null;
    if (text === undefined) text = e.kind.replace(/_/g, ' ');
    if (e.actor && /^(released|resolved|reopened|woken)$/.test(e.kind)) text = FD.agentName(e.actor) + ' ' + text;
    else if (/^[a-z]/.test(text)) text = text.charAt(0).toUpperCase() + text.slice(1);
    const li = h('li', 'ev');
    li.appendChild(said('span', null, text + ' · ' + FD.clock(e.ts)));
    return li;
  }

  function render(scroll) {
    const t = T.current;
    if (!t) return;
    const thread = $('thread');
    const nearBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
    $('ticket-none').hidden = true;
    $('ticket').hidden = false;
    $('t-title').textContent = FD.shown(FD.customer(t)) + ' · #' + t.id;
    $('t-title').dir = 'auto';

    /* Where the platform shows who wrote a reply (web chat) the customer
     * sees the name; elsewhere (Mastodon) the reply is signed. */
    $('sign-hint').textContent = T.mode === 'note'
      ? 'Only agents see private notes: they are never sent to the customer'
      : t.reply_signed
        ? 'Signed “— ' + state.me.name + '” automatically (' + t.platform + ' does not show who wrote it)'
        : 'The customer sees your name, ' + state.me.name + ', beside the reply';
    if (T.mode !== 'note' && t.email && t.platform === 'webchat')
      $('sign-hint').textContent += '. If they have left the chat, it also goes by e-mail to ' + FD.shown(t.email);

    const meta = $('t-meta');
    FD.clear(meta);
    meta.appendChild(FD.badge(t.priority));
    meta.appendChild(h('span', 'chip', t.platform + (t.private ? ' · private' : ' · public')));
    meta.appendChild(h('span', 'chip chip-status chip-' + t.status,
      t.status === 'claimed' ? 'claimed by ' + FD.agentName(t.assignee) : t.status));
    if (FD.snoozed(t)) meta.appendChild(h('span', 'chip chip-snoozed', 'snoozed until ' + FD.clock(t.snoozed_until)));
    meta.appendChild(h('span', 'qi-reason', FD.REASONS[t.reason] || t.reason || ''));
    if (t.email) meta.appendChild(said('span', 'chip chip-email', 'e-mail: ' + t.email));
    if (t.rating) {
      const r = h('span', 'chip chip-rating chip-rating-' + t.rating.score,
        '★'.repeat(t.rating.score) + '☆'.repeat(5 - t.rating.score) + ' ' + t.rating.score + '/5');
      r.title = 'The customer\'s rating';
      meta.appendChild(r);
      if (t.rating.comment) meta.appendChild(said('span', 'rating-comment', '“' + t.rating.comment + '”'));
    }

    const sla = $('t-sla');
    FD.clear(sla);
    const due = h('span', 'due');
    due.setAttribute('data-due-id', String(t.id));
    sla.appendChild(due);
    if (t.due) sla.appendChild(h('span', 'muted', 'target ' + FD.clock(t.due)));
    if (t.first_response) sla.appendChild(h('span', 'muted', 'first reply after ' + FD.span((Date.parse(t.first_response) - Date.parse(t.created)) / 1000)));
    if (t.resolved) sla.appendChild(h('span', 'muted', 'resolved after ' + FD.span((Date.parse(t.resolved) - Date.parse(t.created)) / 1000)));
    if (t.missed) sla.appendChild(h('span', 'chip chip-missed', 'target missed'));

    renderTags(t);

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
        rank = Math.max(floor, items.filter((x) => x.sub === 0 && x.ts <= ts).length - 1);
      }
      const el = eventLine(e);
      if (el) items.push({ ts, rank, sub: 1 + i, el });
    });
    items.sort((a, b) => a.rank - b.rank || a.sub - b.sub);
    FD.clear(thread);
    items.forEach((i) => thread.appendChild(i.el));
    if (scroll || nearBottom) thread.scrollTop = thread.scrollHeight;

    const open = t.status !== 'resolved';
    const mine = t.status === 'claimed' && state.me && t.assignee === state.me.login;
    $('a-claim').hidden = !open || mine;
    $('a-claim').textContent = t.status === 'claimed' ? 'Take over' : 'Claim';
    $('a-release').hidden = t.status !== 'claimed';
    $('a-resolve').hidden = !open;
    $('a-reopen').hidden = open;
    $('a-snooze').parentNode.hidden = !open;
    fillSnooze(t);
    $('a-assign').parentNode.hidden = !open || state.agents.length < 2;
    fillAssign();
    $('a-priority').value = t.priority;
    $('a-priority').disabled = !open;
    const other = t.status === 'claimed' && !mine;
    /* Notes can be written on any conversation; replies only on an open
     * one the agent may answer. */
    /* WhatsApp, Messenger and Instagram take replies only for a while after
     * the customer's last message: past that, the server says why. */
    const closed = open && !other && t.reply_closed;
    const canReply = open && !other && !closed;
    if (!canReply && T.mode === 'reply') setMode('note', true);
    $('mode-reply').disabled = !canReply;
    $('reply-held').hidden = canReply;
    $('reply-held').textContent = !open ? 'This conversation is resolved. Reopen it to reply; notes can still be added.'
      : other ? FD.agentName(t.assignee) + ' has this conversation. Take it over to reply; notes can still be added.'
        : closed ? t.reply_closed + '. Notes can still be added.' : '';
    if (T.mode === 'reply')
      $('reply-text').placeholder = t.status === 'waiting' ? 'Write a reply (sending it claims the conversation)…' : 'Write a reply…';
    FD.tick();
  }
  T.render = render;

  /* ---- labels and priority ---------------------------------------------------- */

  function renderTags(t) {
    const box = $('t-labels');
    FD.clear(box);
    (t.labels || []).forEach((name) => {
      const chip = FD.labelChip(name);
      const x = h('button', 'chip-x', '×');
      x.type = 'button';
      x.title = 'Remove the label ' + name;
      x.setAttribute('aria-label', 'Remove the label ' + name);
      x.addEventListener('click', () => act('label', { label: name, on: false }));
      chip.appendChild(x);
      box.appendChild(chip);
    });
    const sel = $('a-label');
    FD.clear(sel);
    sel.appendChild(FD.option('', state.labels.length ? '+ Label' : 'No labels yet'));
    state.labels.filter((l) => !(t.labels || []).some((x) => x.toLowerCase() === l.name.toLowerCase()))
      .forEach((l) => sel.appendChild(FD.option(l.name, l.name)));
    sel.parentNode.hidden = !state.labels.length;
  }

  $('a-label').addEventListener('change', () => {
    const name = $('a-label').value;
    if (name) act('label', { label: name, on: true });
  });

  $('a-priority').addEventListener('change', async () => {
    const p = $('a-priority').value;
    if (T.current && p !== T.current.priority && await act('priority', { priority: p }))
      FD.toast('Priority is ' + p + ' now; the target moved with it.');
  });

  /* ---- snooze ------------------------------------------------------------------ */

  function fillSnooze(t) {
    const sel = $('a-snooze');
    FD.clear(sel);
    if (FD.snoozed(t)) {
      sel.appendChild(FD.option('', 'Snoozed'));
      sel.appendChild(FD.option('wake', 'Back to the queue now'));
      return;
    }
    sel.appendChild(FD.option('', 'Snooze…'));
    sel.appendChild(FD.option('1h', 'for an hour'));
    sel.appendChild(FD.option('4h', 'for 4 hours'));
    sel.appendChild(FD.option('tomorrow', 'until tomorrow 9:00'));
    sel.appendChild(FD.option('week', 'until next week'));
  }

  function snoozeUntil(v) {
    const d = new Date();
    if (v === '1h') return new Date(d.getTime() + 3600e3);
    if (v === '4h') return new Date(d.getTime() + 4 * 3600e3);
    const day = new Date(d.getFullYear(), d.getMonth(), d.getDate() + (v === 'week' ? 7 : 1), 9, 0, 0);
    return day;
  }

  $('a-snooze').addEventListener('change', async () => {
    const v = $('a-snooze').value;
    if (!v) return;
    const until = v === 'wake' ? null : snoozeUntil(v);
    if (await act('snooze', { until: until ? FD.iso(until) : null }))
      FD.toast(until ? 'Snoozed until ' + FD.clock(until.toISOString()) + ', or until the customer writes.' : 'Back in the queue.');
  });

  /* ---- actions -------------------------------------------------------------------- */

  function fillAssign() {
    const sel = $('a-assign');
    FD.clear(sel);
    sel.appendChild(FD.option('', 'Reassign…'));
    state.agents.forEach((a) => sel.appendChild(FD.option(a.login, a.name)));
  }

  async function act(action, body) {
    const id = Q.currentId;
    if (!id) return false;
    try {
      const t = await FD.api('POST', '/api/tickets/' + id + '/' + action, body);
      FD.known.set(t.id, Object.assign({}, FD.known.get(t.id) || {}, t));
      FD.emit('ticket', t);
      await load(id, action === 'reply' || action === 'note');
      return true;
    } catch (e) {
      if (e.status === 409 && action === 'claim' && /claimed by/.test(e.message)) {
        if (confirm('This conversation is ' + e.message.replace(/^already /, '') + '. Take it over?')) return act('claim', { take_over: true });
        return false;
      }
      FD.fail(e);
      if (T.current) render(false);
      return false;
    }
  }
  T.act = act;

  $('a-claim').addEventListener('click', () => act('claim', { take_over: $('a-claim').textContent === 'Take over' }));
  $('a-release').addEventListener('click', () => act('release'));
  $('a-resolve').addEventListener('click', async () => {
    if (await act('resolve')) {
      const asked = T.current && (T.current.events || []).some((e) => e.kind === 'rating_asked' && Date.parse(e.ts) >= Date.parse(T.current.resolved));
      FD.toast('Resolved. The bot answers this customer again' + (asked ? '; they were asked to rate the conversation.' : '.'));
    }
  });
  $('a-reopen').addEventListener('click', async () => {
    if (await act('reopen')) {
      setMode('reply');
      FD.toast('Reopened: back in the queue for a person.');
    }
  });
  $('a-assign').addEventListener('change', async () => {
    const login = $('a-assign').value;
    if (login && await act('assign', { login })) FD.toast('Assigned to ' + FD.agentName(login) + '.');
  });

  /* ---- the composer: reply or private note -------------------------------------- */

  function setMode(mode, quiet) {
    T.mode = mode;
    const note = mode === 'note';
    $('reply').classList.toggle('reply-note', note);
    $('mode-reply').classList.toggle('mode-on', !note);
    $('mode-note').classList.toggle('mode-on', note);
    $('mode-reply').setAttribute('aria-selected', String(!note));
    $('mode-note').setAttribute('aria-selected', String(note));
    $('reply-text').placeholder = note ? 'Write a private note: only agents see it, it is never sent…' : 'Write a reply…';
    $('reply-submit').textContent = note ? 'Add note' : 'Send';
    $('canned').hidden = note;
    if (!quiet && T.current) render(false);
  }
  T.setMode = setMode;
  $('mode-reply').addEventListener('click', () => setMode('reply'));
  $('mode-note').addEventListener('click', () => setMode('note'));

  $('reply').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ta = $('reply-text');
    const text = ta.value.trim();
    if (!text) return;
    $('reply-submit').disabled = true;
    $('reply-error').hidden = true;
    if (await act(T.mode === 'note' ? 'note' : 'reply', { text })) ta.value = '';
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
    try { r = await FD.api('GET', '/api/canned?ticket=' + id); } catch (e) { return; }
    T.canned = r.replies || [];
    const sel = $('canned');
    FD.clear(sel);
    sel.appendChild(FD.option('', T.canned.length ? 'Canned replies…' : 'No canned replies'));
    T.canned.forEach((c, i) => sel.appendChild(FD.option(String(i), c.title)));
  }

  $('canned').addEventListener('change', () => {
    const c = T.canned[Number($('canned').value)];
    if (!c) return;
    const ta = $('reply-text');
    ta.value = ta.value.trim() ? ta.value.trimEnd() + '\n\n' + c.text : c.text;
    $('canned').value = '';
    ta.focus();
  });

  /* ---- live, keys ---------------------------------------------------------------- */

  let detailTimer = 0;
  FD.on('ticket', (t) => {
    if (t.id === Q.currentId) {
      clearTimeout(detailTimer);
      detailTimer = setTimeout(() => load(t.id, false), 50);
    }
  });
  FD.on('reset', () => { if (Q.currentId) load(Q.currentId, false); });

  /* The customer is typing (the web chat tells): shown under the
   * conversation until they stop, or for a few seconds. */
  let typingOff = 0;
  function customerTyping(on) {
    clearTimeout(typingOff);
    const p = $('t-typing');
    p.hidden = !on;
    p.textContent = on && T.current ? FD.shown(FD.customer(T.current)) + ' is typing…' : '';
    if (on) typingOff = setTimeout(() => customerTyping(false), 8000);
  }
  FD.on('typing', (e) => {
    const t = T.current;
    if (t && e.connector === t.connector && e.thread_key === t.thread_key) customerTyping(!!e.on);
  });
  FD.on('ticket-shown', () => customerTyping(false));
  /* Ours: the customer sees "Sam is typing…" where the platform can; at
   * most one word every 3 s while the reply grows, one when it is sent or
   * emptied. */
  let typingSent = 0;
  function agentTyping(on) {
    const t = T.current;
    if (!t || t.status === 'resolved' || T.mode !== 'reply') return;
    const now = Date.now();
    if (on && now - typingSent < 3000) return;
    if (!on && !typingSent) return;
    typingSent = on ? now : 0;
    FD.api('POST', '/api/tickets/' + t.id + '/typing', { on }).catch(() => {});
  }
  $('reply-text').addEventListener('input', () => agentTyping($('reply-text').value.trim() !== ''));
  $('reply').addEventListener('submit', () => agentTyping(false));
  FD.on('team', () => { if (T.current) render(false); });

  const onTicket = (fn) => () => { if (T.current && document.body.getAttribute('data-view') === 'panes') fn(T.current); };
  FD.key('c', 'Claim the conversation', onTicket((t) => { if (!$('a-claim').hidden) $('a-claim').click(); }));
  FD.key('e', 'Resolve the conversation', onTicket((t) => { if (t.status !== 'resolved') $('a-resolve').click(); }));
  FD.key('r', 'Write a reply', onTicket(() => { if (!$('mode-reply').disabled) setMode('reply'); $('reply-text').focus(); }));
  FD.key('n', 'Write a private note', onTicket(() => { setMode('note'); $('reply-text').focus(); }));
  FD.key('t', 'Pick a canned reply', onTicket(() => {
    if (!$('mode-reply').disabled) {
      setMode('reply');
      $('canned').focus();
      if ($('canned').showPicker) try { $('canned').showPicker(); } catch (e) { /* not allowed here */ }
    }
  }));
  FD.key('l', 'Add a label', onTicket(() => { $('a-label').focus(); }));
})();
