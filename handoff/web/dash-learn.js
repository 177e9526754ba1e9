/*
 * dash-learn.js - learning from the team, beside a conversation: the FAQ
 * answers the customer's latest question is most like, with the bot's
 * confidence (a click puts that answer in the reply box; the agent still
 * sends it), and "Teach": the question becomes an example of a chosen
 * rule, kept by the server and learned at once, so the bot answers
 * questions like it from then on.
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, h = FD.h, said = FD.said;

  const L = FD.learn = { data: null, ticket: 0 };

  function pct(c) { return Math.round(c * 100) + '%'; }

  function put(text) {
    const ta = $('reply-text');
    if (!ta || ta.disabled) return;
    ta.value = text;
    ta.dispatchEvent(new Event('input'));
    ta.focus();
  }

  function render() {
    const box = $('learn');
    const d = L.data;
    FD.clear(box);
    if (!d || !d.question) { box.hidden = true; return; }
    box.hidden = false;

    const head = h('div', 'learn-head');
    head.appendChild(h('span', 'learn-title', 'Suggested answers'));
    head.appendChild(h('span', 'muted small', 'for the latest question · click to put it in the reply box'));
    box.appendChild(head);
    const list = h('div', 'learn-suggestions');
    const usable = d.suggestions.filter((s) => s.text);
    if (!usable.length) list.appendChild(h('span', 'muted small', 'No FAQ answer is like this question.'));
    usable.forEach((s) => {
      const b = h('button', 'btn btn-small suggestion');
      b.type = 'button';
      b.dataset.rule = s.rule;
      b.title = s.text;
      b.appendChild(said('span', 'suggestion-rule', s.rule));
      b.appendChild(h('span', 'suggestion-conf' + (s.confidence >= d.min_confidence ? ' conf-high' : ''), pct(s.confidence)));
      b.addEventListener('click', () => put(s.text));
      list.appendChild(b);
    });
    box.appendChild(list);

    /* Teach: the question, as an example of the rule chosen. */
    const form = h('form', 'learn-teach');
    const q = said('span', 'learn-question', '“' + d.question.text + '”');
    const sel = h('select', null);
    sel.id = 'teach-rule';
    sel.setAttribute('aria-label', 'Rule to teach the question to');
    const kinds = { answer: 'FAQ answers', acknowledge: 'Acknowledgements', escalate: 'Escalations', human: 'Hand to a person' };
    Object.keys(kinds).forEach((k) => {
      const rules = d.rules.filter((r) => r.kind === k);
      if (!rules.length) return;
      const g = document.createElement('optgroup');
      g.label = kinds[k];
      rules.forEach((r) => g.appendChild(FD.option(r.id, r.id)));
      sel.appendChild(g);
    });
    if (usable.length) sel.value = usable[0].rule;
    const neg = h('label', 'learn-not small');
    const cb = h('input', null);
    cb.type = 'checkbox';
    cb.id = 'teach-not';
    neg.appendChild(cb);
    neg.appendChild(h('span', null, ' is not this'));
    const go = h('button', 'btn btn-small', 'Teach');
    go.id = 'teach-submit';
    go.type = 'submit';
    form.appendChild(h('span', 'muted small', 'Teach the bot that '));
    form.appendChild(q);
    form.appendChild(h('span', 'muted small', ' asks for'));
    form.appendChild(sel);
    form.appendChild(neg);
    form.appendChild(go);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); teach(sel.value, cb.checked, go); });
    box.appendChild(form);
    if (L.taught) box.appendChild(said('p', 'learn-done small', L.taught));
  }

  async function teach(rule, negative, btn) {
    const d = L.data;
    if (!d || !d.question || !rule) return;
    btn.disabled = true;
    try {
      const r = await FD.api('POST', '/api/learn/teach',
        { ticket: d.ticket, message_id: d.question.message_id, rule, negative });
      L.taught = r.already
        ? 'Already taught: the bot knows this question ' + (negative ? 'is not ' : 'asks for ') + rule + '.'
        : 'Taught: the bot is learning it now, and will ' + (negative ? 'no longer read questions like it as ' : 'answer questions like it with ') + rule + '.';
      FD.toast(L.taught);
      render();
    } catch (e) {
      FD.fail(e, 'Teach');
    } finally {
      btn.disabled = false;
    }
  }

  let loading = 0;
  async function load(t) {
    const mine = ++loading;
    let d;
    try { d = await FD.api('GET', '/api/learn/ticket/' + t.id); } catch (e) { d = null; }
    if (mine !== loading) return;
    const again = L.data && L.data.ticket === t.id && d && L.data.question && d.question &&
      L.data.question.message_id === d.question.message_id;
    if (!again) L.taught = '';
    L.data = d;
    render();
  }

  /* A conversation was shown (first time, or again after a change). */
  FD.on('ticket-shown', (t) => load(t));
  FD.on('route', (hash) => {
    if (!/^#\/ticket\//.test(hash)) { L.data = null; loading++; }
  });
})();
