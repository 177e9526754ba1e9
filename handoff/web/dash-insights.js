/*
 * dash-insights.js - #/insights: what the bot saves the team, and what to
 * teach it next.  The questions the bot could not answer, grouped by
 * subject (the same learning as the FAQ rules), the most asked first: a
 * group like an existing FAQ is taught to it in one click; any group
 * becomes a new FAQ rule (its questions as examples, the owner writes the
 * answer).  Then everything taught so far, removable.
 *
 * Above them, the figures of the chosen period (the same computation as
 * `frontdesk report`, from GET /api/report): posts, the share the bot
 * handled without a person, people needed and why, first-reply and
 * resolution times against the targets, customer satisfaction, per day or
 * week and per channel, and the busiest hours.
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, h = FD.h, said = FD.said;

  const I = FD.insights = { days: 30, by: 'day', since: '', until: '', groups: null, taught: null, report: null };

  const REASONS = { rule: 'an escalation rule', unmatched: 'no answer known', negative: 'unhappy customer',
    requested_human: 'asked for a person', abusive: 'abusive', other: 'other' };
  const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

  /* 5400 -> "1h 30m", null -> "–" */
  function span(s) {
    if (s === null || s === undefined) return '–';
    const v = Math.round(s), d = Math.floor(v / 86400), hr = Math.floor(v % 86400 / 3600), m = Math.floor(v % 3600 / 60);
    if (d) return d + 'd ' + hr + 'h';
    if (hr) return hr + 'h ' + m + 'm';
    if (m) return m + 'm';
    return v + 's';
  }
  const pct = (x) => (x === null || x === undefined ? '–' : Math.round(x * 100) + '%');

  function tile(cls, label, value, sub) {
    const t = h('div', 'tile ' + cls);
    t.appendChild(h('div', 'tile-label', label));
    t.appendChild(h('div', 'tile-value', value));
    if (sub) t.appendChild(h('div', 'tile-sub muted small', sub));
    return t;
  }

  function renderFigures(root) {
    const r = I.report;
    const s = section('What the bot saves you', r
      ? 'From ' + FD.clock(r.since) + ' to ' + FD.clock(r.until) + ', by ' + r.period + '. The same figures as frontdesk report.'
      : null);
    s.id = 'figures';
    if (!r) { s.appendChild(h('p', 'muted', 'Loading…')); root.appendChild(s); return; }
    const f = r.total;
    const tiles = h('div', 'tiles');
    tiles.appendChild(tile('t-posts', 'Customer messages', String(f.posts)));
    tiles.appendChild(tile('t-handled', 'Handled by the bot', pct(f.handled_share),
      f.handled + ' without a person (' + f.answered + ' answered, ' + f.acknowledged + ' acknowledged)'));
    const why = Object.entries(f.escalations || {}).filter(([, n]) => n).map(([k, n]) => (REASONS[k] || k) + ' ' + n).join(', ');
    tiles.appendChild(tile('t-people', 'Handed to a person', String(f.tickets), why || 'none'));
    tiles.appendChild(tile('t-first', 'First reply', span(f.first_response.p50), '90% within ' + span(f.first_response.p90)));
    tiles.appendChild(tile('t-resolution', 'Resolution', span(f.resolution.p50), '90% within ' + span(f.resolution.p90)));
    tiles.appendChild(tile('t-targets', 'On time', pct(f.met_share), f.missed + ' response target' + (f.missed === 1 ? '' : 's') + ' missed'));
    tiles.appendChild(tile('t-csat', 'Satisfied customers', pct(f.csat.satisfied_share),
      f.csat.ratings ? f.csat.ratings + ' rating' + (f.csat.ratings === 1 ? '' : 's') + ', average ' + f.csat.average.toFixed(1) + ' / 5' : 'no ratings yet'));
    const peak = r.busiest && r.busiest.peak;
    tiles.appendChild(tile('t-busiest', 'Busiest hour', peak ? peak.weekday + ' ' + String(peak.hour).padStart(2, '0') + ':00' : '–',
      peak ? peak.posts + ' message' + (peak.posts === 1 ? '' : 's') : 'no messages'));
    s.appendChild(tiles);

    /* Per period and channel. */
    const table = h('table', 'list figures-table');
    table.id = 'figures-table';
    const head = h('tr');
    [r.period === 'week' ? 'Week of' : 'Day', 'Channel', 'Messages', 'By the bot', 'To a person', 'First reply', 'Resolved', 'Late', 'Satisfied']
      .forEach((c) => head.appendChild(h('th', null, c)));
    table.appendChild(head);
    const row = (label, channel, x) => {
      const tr = h('tr', channel ? 'fig-channel' : 'fig-period');
      tr.appendChild(h('td', null, label));
      tr.appendChild(said('td', null, channel || 'all'));
      tr.appendChild(h('td', 'num', String(x.posts)));
      tr.appendChild(h('td', 'num', pct(x.handled_share)));
      tr.appendChild(h('td', 'num', String(x.tickets)));
      tr.appendChild(h('td', 'num', span(x.first_response.p50)));
      tr.appendChild(h('td', 'num', span(x.resolution.p50)));
      tr.appendChild(h('td', 'num', String(x.missed)));
      tr.appendChild(h('td', 'num', x.csat.ratings ? pct(x.csat.satisfied_share) + ' (' + x.csat.ratings + ')' : '–'));
      table.appendChild(tr);
    };
    let any = false;
    r.periods.forEach((p) => {
      if (!p.total.posts && !p.total.tickets) return;
      any = true;
      row(String(p.start).slice(0, 10), null, p.total);
      Object.entries(p.channels).forEach(([c, x]) => row('', c, x));
    });
    if (any) {
      const wrap = h('div', 'table-wrap');
      wrap.appendChild(table);
      s.appendChild(wrap);
    } else {
      s.appendChild(h('p', 'empty', 'No customer messages in this period.'));
    }

    /* When customers write: weekday by hour. */
    if (r.busiest && peak) {
      const grid = h('table', 'heat');
      grid.id = 'busiest';
      grid.setAttribute('aria-label', 'Customer messages by weekday and hour');
      const top = h('tr');
      top.appendChild(h('th'));
      for (let hr = 0; hr < 24; hr++) top.appendChild(h('th', 'heat-hour', hr % 3 ? '' : String(hr)));
      grid.appendChild(top);
      r.busiest.posts.forEach((hours, d) => {
        const tr = h('tr');
        tr.appendChild(h('th', null, DAYS[d]));
        hours.forEach((n, hr) => {
          const td = h('td', 'heat-cell');
          td.style.setProperty('--heat', String(n / peak.posts));
          td.title = DAYS[d] + ' ' + String(hr).padStart(2, '0') + ':00 – ' + n + ' message' + (n === 1 ? '' : 's');
          if (n) td.setAttribute('data-n', String(n));
          tr.appendChild(td);
        });
        grid.appendChild(tr);
      });
      s.appendChild(h('h3', 'small', 'When customers write'));
      const wrap = h('div', 'table-wrap');
      wrap.appendChild(grid);
      s.appendChild(wrap);
    }
    root.appendChild(s);
  }

  function section(title, sub) {
    const s = h('section', 'card insights-section');
    const head = h('header', null);
    head.appendChild(h('h2', null, title));
    if (sub) head.appendChild(h('p', 'muted small', sub));
    s.appendChild(head);
    return s;
  }

  /* A rule id from a question: "can i bring my dog" -> "bring-dog". */
  function ruleId(text) {
    const stop = new Set(['a', 'an', 'the', 'i', 'you', 'we', 'my', 'your', 'do', 'does', 'can', 'is', 'are', 'to',
      'of', 'for', 'in', 'on', 'and', 'or', 'it', 'me', 'there', 'what', 'how', 'when', 'where', 'any', 'with', 'have']);
    const w = String(text).toLowerCase().normalize('NFKD').replace(/[^a-z0-9 ]+/g, ' ').split(/\s+/)
      .filter((x) => x && !stop.has(x)).slice(0, 3);
    return w.length ? w.join('-') : 'new-question';
  }

  function yamlString(s) { return JSON.stringify(String(s)); }

  /* A new FAQ rule from a group: the rule (for rules/*.yaml) and its reply
   * (for replies/*.yaml), the questions pre-filled, the answer the owner's. */
  function newRule(g, host) {
    FD.clear(host);
    host.hidden = false;
    const form = h('form', 'new-rule');
    const idIn = h('input', null);
    idIn.value = ruleId(g.question);
    idIn.setAttribute('aria-label', 'Rule id');
    idIn.className = 'new-rule-id';
    const ex = h('textarea', 'new-rule-examples');
    ex.rows = Math.min(8, g.questions.length + 1);
    ex.value = g.questions.join('\n');
    ex.setAttribute('aria-label', 'Example questions, one a line');
    const ans = h('textarea', 'new-rule-answer');
    ans.rows = 3;
    ans.placeholder = 'Write the answer the bot should give…';
    ans.setAttribute('aria-label', 'The answer');
    const out = h('pre', 'new-rule-yaml');
    const copy = h('button', 'btn btn-small', 'Copy');
    copy.type = 'button';
    function update() {
      const id = (idIn.value.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'new-question');
      const lines = ex.value.split('\n').map((x) => x.trim()).filter(Boolean);
      out.textContent =
        '# rules/faq.yaml\n- id: ' + id + '\n  reply: faq.' + id.replace(/-/g, '_') + '\n  examples:\n' +
        lines.map((x) => '    - ' + yamlString(x)).join('\n') + '\n\n' +
        '# replies/en.yaml\nfaq.' + id.replace(/-/g, '_') + ': ' + yamlString(ans.value.trim() || 'Write the answer here.') + '\n';
    }
    [idIn, ex, ans].forEach((el) => el.addEventListener('input', update));
    copy.addEventListener('click', async () => {
      try { await navigator.clipboard.writeText(out.textContent); FD.toast('Copied: add it to your rule and reply files, then reload'); }
      catch (e) { FD.toast('Select the text and copy it', true); }
    });
    update();
    form.appendChild(h('label', 'small', 'Rule id'));
    form.appendChild(idIn);
    form.appendChild(h('label', 'small', 'Example questions (one a line)'));
    form.appendChild(ex);
    form.appendChild(h('label', 'small', 'Answer'));
    form.appendChild(ans);
    form.appendChild(h('p', 'muted small', 'Add this to your rule and reply files and reload: the bot answers these questions from then on.'));
    form.appendChild(out);
    form.appendChild(copy);
    host.appendChild(form);
    ans.focus();
  }

  /* Teach every question of the group to the rule it is most like. */
  async function teachGroup(g, rule, btn) {
    btn.disabled = true;
    let n = 0;
    for (const t of g.tickets) {
      try {
        const d = await FD.api('GET', '/api/learn/ticket/' + t);
        if (!d.question) continue;
        await FD.api('POST', '/api/learn/teach', { ticket: t, message_id: d.question.message_id, rule, negative: false });
        n++;
      } catch (e) { FD.fail(e, 'Teach'); break; }
    }
    FD.toast(n ? 'Taught ' + n + ' question' + (n === 1 ? '' : 's') + ' to ' + rule : 'Nothing to teach');
    load();
  }

  function renderGroups(root) {
    const s = section('Questions the bot could not answer',
      'In the last ' + I.days + ' days, grouped by what they ask: the most asked first. Each group is an FAQ to add or to teach.');
    const d = I.groups;
    if (!d) { s.appendChild(h('p', 'muted', 'Loading…')); root.appendChild(s); return; }
    s.appendChild(h('p', 'small', d.questions + ' unanswered question' + (d.questions === 1 ? '' : 's') + ' in ' + d.groups_total + ' group' + (d.groups_total === 1 ? '' : 's')));
    const ol = h('ol', 'groups');
    ol.id = 'groups';
    d.groups.forEach((g) => {
      const li = h('li', 'group');
      const top = h('div', 'group-head');
      top.appendChild(h('span', 'group-count', '×' + g.count));
      top.appendChild(said('span', 'group-question', g.question));
      li.appendChild(top);
      const qs = h('ul', 'group-questions');
      g.questions.forEach((q) => qs.appendChild(said('li', null, q)));
      li.appendChild(qs);
      const act = h('div', 'group-actions');
      const s0 = g.suggestions[0];
      if (s0) {
        const b = h('button', 'btn btn-small teach-group', 'Teach to ' + s0.rule + ' (' + Math.round(s0.confidence * 100) + '% alike)');
        b.type = 'button';
        b.title = s0.text || '';
        b.addEventListener('click', () => teachGroup(g, s0.rule, b));
        act.appendChild(b);
      }
      const nb = h('button', 'btn btn-small btn-primary new-rule-btn', 'New FAQ rule…');
      nb.type = 'button';
      const host = h('div', 'new-rule-host');
      host.hidden = true;
      nb.addEventListener('click', () => newRule(g, host));
      act.appendChild(nb);
      g.tickets.slice(0, 3).forEach((t) => {
        const a = h('a', 'small', '#' + t);
        a.href = '#/ticket/' + t;
        act.appendChild(a);
      });
      li.appendChild(act);
      li.appendChild(host);
      ol.appendChild(li);
    });
    if (!d.groups.length) s.appendChild(h('p', 'empty', 'Every question was answered or taught. Nothing to add.'));
    s.appendChild(ol);
    root.appendChild(s);
  }

  function renderTaught(root) {
    const s = section('What the team taught', 'Questions recorded as examples of a rule, learned with the rule files’ examples. Remove one and the bot unlearns it.');
    const list = I.taught;
    if (!list) { s.appendChild(h('p', 'muted', 'Loading…')); root.appendChild(s); return; }
    if (!list.length) s.appendChild(h('p', 'empty', 'Nothing taught yet: use “Teach” under a conversation.'));
    const table = h('table', 'list taught');
    table.id = 'taught';
    list.forEach((t) => {
      const tr = h('tr', t.known ? null : 'taught-unknown');
      tr.appendChild(said('td', 'taught-text', t.text));
      tr.appendChild(said('td', null, (t.negative ? 'not ' : '') + t.rule + (t.known ? '' : ' (no such rule now)')));
      tr.appendChild(said('td', 'muted small', FD.agentName(t.by) + ' · ' + FD.clock(t.created)));
      const td = h('td');
      const rm = h('button', 'btn btn-small btn-danger', 'Remove');
      rm.type = 'button';
      rm.addEventListener('click', async () => {
        rm.disabled = true;
        try { await FD.api('POST', '/api/learn/taught/' + t.id + '/remove'); FD.toast('Removed: the bot unlearns it now'); load(); }
        catch (e) { rm.disabled = false; FD.fail(e, 'Remove'); }
      });
      td.appendChild(rm);
      tr.appendChild(td);
      table.appendChild(tr);
    });
    s.appendChild(table);
    root.appendChild(s);
  }

  function render() {
    const view = $('view-insights');
    FD.clear(view);
    const root = h('div', 'insights');
    view.appendChild(root);
    const head = h('header', 'insights-head');
    head.appendChild(h('h1', null, 'Insights'));
    const sel = h('select', null);
    sel.id = 'insights-days';
    sel.setAttribute('aria-label', 'Period');
    [[7, 'Last 7 days'], [30, 'Last 30 days'], [90, 'Last 90 days']].forEach(([v, t]) => sel.appendChild(FD.option(String(v), t)));
    sel.value = String(I.days);
    sel.addEventListener('change', () => { I.days = Number(sel.value); I.since = I.until = ''; load(); });
    const by = h('select', null);
    by.id = 'insights-by';
    by.setAttribute('aria-label', 'Figures by');
    [['day', 'By day'], ['week', 'By week']].forEach(([v, t]) => by.appendChild(FD.option(v, t)));
    by.value = I.by;
    by.addEventListener('change', () => { I.by = by.value; load(); });
    /* Or any dates: from .. to (inclusive). */
    const range = h('form', 'insights-range');
    const from = h('input'), to = h('input');
    from.type = to.type = 'date';
    from.id = 'insights-from';
    to.id = 'insights-to';
    from.value = I.since;
    to.value = I.until;
    from.setAttribute('aria-label', 'From');
    to.setAttribute('aria-label', 'To');
    const go = h('button', 'btn btn-small', 'Show');
    go.type = 'submit';
    range.appendChild(from);
    range.appendChild(h('span', 'muted small', '–'));
    range.appendChild(to);
    range.appendChild(go);
    range.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!from.value || !to.value || to.value < from.value) { FD.toast('Choose a start and an end date', true); return; }
      I.since = from.value;
      I.until = to.value;
      load();
    });
    const controls = h('div', 'insights-controls');
    controls.appendChild(sel);
    controls.appendChild(by);
    controls.appendChild(range);
    head.appendChild(controls);
    root.appendChild(head);
    FD.emit('insights-render', root);
    renderFigures(root);
    renderGroups(root);
    renderTaught(root);
  }

  let loading = 0;
  async function load() {
    const mine = ++loading;
    render();
    let q = 'by=' + I.by;
    if (I.since && I.until) {
      /* The end date counts whole: up to the next midnight. */
      const end = new Date(I.until + 'T00:00:00Z');
      end.setUTCDate(end.getUTCDate() + 1);
      q += '&since=' + I.since + '&until=' + end.toISOString().slice(0, 10);
    } else {
      q += '&days=' + I.days;
    }
    const [rep, g, t] = await Promise.all([
      FD.api('GET', '/api/report?' + q).catch((e) => { FD.fail(e, 'Figures'); return null; }),
      FD.api('GET', '/api/learn/questions?days=' + I.days).catch((e) => { FD.fail(e, 'Questions'); return null; }),
      FD.api('GET', '/api/learn/taught').catch((e) => { FD.fail(e, 'Taught'); return null; }),
    ]);
    if (mine !== loading) return;
    I.report = rep;
    I.groups = g;
    I.taught = t ? t.taught : [];
    render();
  }
  I.load = load;

  FD.route(/^#\/insights$/, () => { FD.show('insights'); load(); });
  FD.key('I', 'Insights: what the bot saves you, and what it could not answer', () => FD.go('#/insights'));
})();
