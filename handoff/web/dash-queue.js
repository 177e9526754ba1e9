/*
 * dash-queue.js - the queue: tabs with their counts (Open, Mine, Unclaimed,
 * Snoozed, Resolved), the list ordered by due time with its countdowns,
 * unread marks, the statistics in the top bar, and j / k.
 *
 * Unread: a conversation is unread for this agent when the customer wrote
 * after the agent last opened it (the ticket's latest_id above the agent's
 * read mark, `seen`, which the server keeps per agent).
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, h = FD.h, said = FD.said, state = FD.state;

  const Q = FD.queue = {
    filter: 'open',
    tickets: new Map(), // id -> ticket (the current tab)
    seen: new Map(),    // id -> this agent's read mark
    currentId: 0,
  };

  const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };
  FD.REASONS = {
    rule: 'Escalation rule',
    negative: 'Unhappy customer',
    unmatched: 'Unanswered question',
    requested_human: 'Asked for a person',
    abusive: 'Abusive message',
  };

  FD.unread = (t) => t.status !== 'resolved' && t.latest_id > 0 && t.latest_id > (Q.seen.get(t.id) || 0);

  /* The agent read ticket t up to what it shows: the mark moves here and
   * on the server (which keeps it for the agent's other devices). */
  FD.markSeen = (t) => {
    const id = t.latest_id || 0;
    if (!id || id <= (Q.seen.get(t.id) || 0)) return;
    Q.seen.set(t.id, id);
    FD.api('POST', '/api/tickets/' + t.id + '/seen', { message_id: id }).catch(() => {});
    render();
  };

  function inFilter(t) {
    const snoozed = FD.snoozed(t);
    switch (Q.filter) {
    case 'open': return (t.status === 'waiting' || t.status === 'claimed') && !snoozed;
    case 'mine': return t.status === 'claimed' && state.me && t.assignee === state.me.login && !snoozed;
    case 'waiting': return t.status === 'waiting' && !snoozed;
    case 'snoozed': return t.status !== 'resolved' && snoozed;
    case 'resolved': return t.status === 'resolved';
    }
    return true;
  }

  function compare(a, b) {
    if (Q.filter === 'resolved') return Date.parse(b.resolved || 0) - Date.parse(a.resolved || 0) || b.id - a.id;
    if (Q.filter === 'snoozed') return Date.parse(a.snoozed_until) - Date.parse(b.snoozed_until) || a.id - b.id;
    const da = a.due ? Date.parse(a.due) : Infinity;
    const db = b.due ? Date.parse(b.due) : Infinity;
    if (da !== db) return da - db;
    return (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9) || a.id - b.id;
  }

  Q.sorted = () => Array.from(Q.tickets.values()).filter(inFilter).sort(compare);

  /* The server status a tab reads. */
  const STATUS = { open: 'open', mine: 'claimed', waiting: 'waiting', snoozed: 'open', resolved: 'resolved' };

  async function load() {
    FD.fetching();
    let r = null;
    try {
      r = await FD.api('GET', '/api/tickets?status=' + STATUS[Q.filter]);
      Q.tickets.clear();
      r.tickets.forEach((t) => {
        Q.seen.set(t.id, t.seen || 0);
        FD.known.set(t.id, t);
        if (inFilter(t)) Q.tickets.set(t.id, t);
      });
    } catch (e) {
      FD.fail(e, 'Could not load the queue');
    } finally {
      FD.fetched(r ? r.seq : undefined, r ? r.epoch : undefined);
    }
    render();
    counts();
  }
  Q.load = load;

  function badge(priority) {
    return h('span', 'badge badge-' + (priority || 'normal'), priority || 'normal');
  }
  FD.badge = badge;

  /* One conversation in a list (the queue, search results, a contact's). */
  FD.queueItem = function queueItem(t, active) {
    const unread = FD.unread(t);
    const li = h('li', 'qi' + (active ? ' qi-active' : '') + (t.status === 'claimed' ? ' qi-claimed' : '') +
      (unread ? ' qi-unread' : ''));
    li.setAttribute('data-id', String(t.id));
    const a = h('a', 'qi-link');
    a.href = '#/ticket/' + t.id;

    const top = h('div', 'qi-top');
    if (unread) {
      const dot = h('span', 'unread-dot');
      dot.title = 'New message';
      top.appendChild(dot);
    }
    top.appendChild(badge(t.priority));
    top.appendChild(said('span', 'qi-author', FD.customer(t)));
    const due = h('span', 'due');
    due.setAttribute('data-due-id', String(t.id));
    top.appendChild(due);
    a.appendChild(top);

    const meta = h('div', 'qi-meta');
    meta.appendChild(h('span', 'qi-reason', FD.REASONS[t.reason] || t.reason || 'Escalated'));
    meta.appendChild(h('span', 'chip', t.platform));
    if (t.assignee) meta.appendChild(h('span', 'chip chip-agent', FD.agentName(t.assignee)));
    if (t.missed) meta.appendChild(h('span', 'chip chip-missed', 'target missed'));
    (t.labels || []).forEach((l) => meta.appendChild(FD.labelChip(l)));
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
  };

  function render() {
    const ul = $('queue');
    FD.clear(ul);
    const list = Q.sorted();
    list.forEach((t) => ul.appendChild(FD.queueItem(t, t.id === Q.currentId)));
    $('queue-empty').hidden = list.length > 0;
    $('queue-empty').textContent = {
      resolved: 'No resolved conversations yet.',
      mine: 'You have no conversations. Claim one from Open.',
      snoozed: 'Nothing snoozed.',
    }[Q.filter] || 'Nothing waiting. The bot has it covered.';
    document.querySelectorAll('.tab').forEach((b) => {
      const on = b.getAttribute('data-filter') === Q.filter;
      b.classList.toggle('tab-on', on);
      b.setAttribute('aria-selected', on ? 'true' : 'false');
    });
    FD.tick();
  }
  Q.render = render;

  document.querySelectorAll('.tab').forEach((b) => b.addEventListener('click', () => {
    Q.filter = b.getAttribute('data-filter');
    if (document.body.getAttribute('data-view') !== 'panes') FD.go('#/');
    load();
  }));

  /* ---- counts on the tabs, and in the title ------------------------------------- */

  let countTimer = 0;
  async function counts() {
    clearTimeout(countTimer);
    countTimer = 0;
    let c;
    try { c = await FD.api('GET', '/api/counts'); } catch (e) { return; }
    document.querySelectorAll('[data-count]').forEach((el) => {
      const n = c[el.getAttribute('data-count')];
      el.textContent = n ? String(n) : '';
    });
    Q.counts = c;
    document.title = (c.waiting ? '(' + c.waiting + ') ' : '') + 'frontdesk · dashboard';
  }
  function countsSoon() {
    if (!countTimer) countTimer = setTimeout(counts, 700);
  }

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
    try { s = await FD.api('GET', '/api/stats'); } catch (e) { return; }
    const el = $('stats');
    FD.clear(el);
    el.appendChild(stat('waiting', s.waiting));
    el.appendChild(stat('claimed', s.claimed));
    el.appendChild(stat('overdue', s.overdue, s.overdue ? 'stat-bad' : ''));
    const week = 'over the last ' + Math.round(s.window_seconds / 86400) + ' days';
    el.appendChild(stat('first reply', s.first_response.median === null ? '–' : FD.span(s.first_response.median), '',
      'Median time to the first reply ' + week + (s.first_response.p90 === null ? '' : '; 90% within ' + FD.span(s.first_response.p90))));
    el.appendChild(stat('resolution', s.resolution.median === null ? '–' : FD.span(s.resolution.median), '',
      'Median time to resolution ' + week + (s.resolution.p90 === null ? '' : '; 90% within ' + FD.span(s.resolution.p90))));
    el.appendChild(stat('missed (7d)', s.missed, s.missed ? 'stat-warn' : '', 'Response targets missed ' + week));
  }

  /* After a change, at most one refresh per 700 ms however many events come. */
  let statsSoonTimer = 0;
  function statsSoon() {
    if (statsSoonTimer) return;
    statsSoonTimer = setTimeout(() => { statsSoonTimer = 0; loadStats(); }, 700);
  }

  /* ---- live, routes, keys ---------------------------------------------------------- */

  FD.on('signedin', () => { load(); loadStats(); });
  FD.on('reset', () => { load(); loadStats(); });
  FD.on('ticket', (t) => {
    const was = Q.tickets.has(t.id);
    if (t.id === Q.currentId && FD.unread(t)) {
      /* Open on screen: read as it arrives. */
      FD.markSeen(t);
    }
    if (inFilter(t)) Q.tickets.set(t.id, t);
    else if (was) Q.tickets.delete(t.id);
    render();
    countsSoon();
    statsSoon();
  });
  /* A snooze that ends puts the ticket back without any event. */
  let lastSnoozed = 0;
  FD.on('tick', (now) => {
    let n = 0;
    FD.known.forEach((t) => { if (t.snoozed_until && Date.parse(t.snoozed_until) > now) n++; });
    if (n !== lastSnoozed) {
      lastSnoozed = n;
      render();
      countsSoon();
    }
  });

  FD.route(/^#\/?$/, () => {
    Q.currentId = 0;
    FD.show('panes');
    document.body.classList.remove('show-ticket');
    FD.emit('ticket-closed');
    render();
  });

  function step(delta) {
    const list = Q.sorted();
    if (!list.length) return;
    let i = list.findIndex((t) => t.id === Q.currentId);
    i = i < 0 ? (delta > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, i + delta));
    FD.go('#/ticket/' + list[i].id);
  }
  FD.key('j', 'Next conversation in the list', () => step(1));
  FD.key('k', 'Previous conversation in the list', () => step(-1));
  FD.key('g', 'Back to the queue', () => FD.go('#/'));
})();
