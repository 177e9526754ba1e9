/*
 * dash-insights.js - #/insights: what the bot saves the team, and what to
 * teach it next.  The questions the bot could not answer, grouped by
 * subject (the same learning as the FAQ rules), the most asked first: a
 * group like an existing FAQ is taught to it in one click; any group
 * becomes a new FAQ rule (its questions as examples, the owner writes the
 * answer).  Then everything taught so far, removable.
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, h = FD.h, said = FD.said;

  const I = FD.insights = { days: 30, groups: null, taught: null };

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
    sel.addEventListener('change', () => { I.days = Number(sel.value); load(); });
    head.appendChild(sel);
    root.appendChild(head);
    FD.emit('insights-render', root);
    renderGroups(root);
    renderTaught(root);
  }

  let loading = 0;
  async function load() {
    const mine = ++loading;
    render();
    const [g, t] = await Promise.all([
      FD.api('GET', '/api/learn/questions?days=' + I.days).catch((e) => { FD.fail(e, 'Questions'); return null; }),
      FD.api('GET', '/api/learn/taught').catch((e) => { FD.fail(e, 'Taught'); return null; }),
    ]);
    if (mine !== loading) return;
    I.groups = g;
    I.taught = t ? t.taught : [];
    render();
  }
  I.load = load;

  FD.route(/^#\/insights$/, () => { FD.show('insights'); load(); });
  FD.key('I', 'Insights: what the bot could not answer', () => FD.go('#/insights'));
})();
