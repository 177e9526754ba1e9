/*
 * dash-contact.js - who the customer is: a panel beside the conversation
 * (name, which an agent can change; e-mail address; handle; where they
 * first wrote; first and last seen; every conversation they had, on any
 * channel), and the same as a page of its own at #/contact/ID.
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, h = FD.h, said = FD.said, Q = FD.queue;

  const C = FD.contact = { id: 0, data: null, open: false };

  const FROM = {
    platform: 'as the platform shows it',
    visitor: 'as the customer gave it',
    verified: 'verified by your site',
    agent: 'set by an agent',
  };

  function field(dl, label, value, cls) {
    if (value === null || value === undefined || value === '') return;
    dl.appendChild(h('dt', null, label));
    const dd = said('dd', cls || '', value);
    dl.appendChild(dd);
  }

  function render(pane) {
    const d = C.data;
    FD.clear(pane);
    const close = h('button', 'btn btn-ghost btn-small contact-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close the contact');
    close.addEventListener('click', () => toggle(false));
    pane.appendChild(close);
    if (!d) {
      pane.appendChild(h('p', 'muted', 'No contact for this conversation yet.'));
      return;
    }
    const c = d.contact;
    const head = h('div', 'contact-head');
    const avatar = h('span', 'avatar', (c.name || c.handle || '?').trim().charAt(0).toUpperCase() || '?');
    avatar.setAttribute('aria-hidden', 'true');
    head.appendChild(avatar);
    const nameBox = h('div', 'contact-name');
    const name = said('h2', null, c.name || c.handle || 'Unknown customer');
    name.id = 'contact-name';
    nameBox.appendChild(name);
    const sub = h('div', 'muted small');
    if (c.verified) sub.appendChild(h('span', 'chip chip-verified', 'verified'));
    if (c.name) sub.appendChild(h('span', null, ' name ' + (FROM[c.name_from] || '')));
    nameBox.appendChild(sub);
    head.appendChild(nameBox);
    pane.appendChild(head);

    /* Agents can change the name; it is kept over what platforms say. */
    const form = h('form', 'contact-edit');
    const input = h('input');
    input.id = 'contact-name-input';
    input.maxLength = 256;
    input.value = c.name || '';
    input.placeholder = 'Name this customer';
    input.setAttribute('aria-label', 'Name');
    const save = h('button', 'btn btn-small', 'Save name');
    save.type = 'submit';
    form.appendChild(input);
    form.appendChild(save);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (!v) return;
      try {
        const r = await FD.api('POST', '/api/contacts/' + c.id, { name: v });
        C.data = r;
        render(pane);
        FD.toast('Saved.');
      } catch (e) {
        FD.fail(e);
      }
    });
    pane.appendChild(form);

    const dl = h('dl', 'contact-facts');
    field(dl, 'E-mail', c.email);
    field(dl, 'Handle', c.handle);
    field(dl, 'First wrote on', c.platform);
    field(dl, 'First seen', c.first_seen ? FD.clock(c.first_seen) : '');
    field(dl, 'Last seen', c.last_seen ? FD.clock(c.last_seen) : '');
    pane.appendChild(dl);

    const n = d.tickets.length;
    pane.appendChild(h('h3', 'contact-sub', n === 1 ? 'One conversation' : n + ' conversations'));
    const ul = h('ul', 'queue contact-tickets');
    d.tickets.forEach((t) => {
      FD.known.set(t.id, Object.assign({}, FD.known.get(t.id) || {}, t));
      const li = FD.queueItem(t, t.id === Q.currentId);
      if (t.contact_id && t.contact_id !== c.id) {
        li.querySelector('.qi-meta').appendChild(h('span', 'chip', 'same e-mail'));
      }
      ul.appendChild(li);
    });
    pane.appendChild(ul);
    FD.tick();
  }

  async function load(id) {
    C.id = id;
    if (!id) {
      C.data = null;
      render($('contact-pane'));
      return;
    }
    try {
      const r = await FD.api('GET', '/api/contacts/' + id);
      if (C.id !== id) return;
      C.data = r;
    } catch (e) {
      if (e.status !== 404) FD.fail(e);
      C.data = null;
    }
    render($('contact-pane'));
  }

  /* On a phone the panel covers the conversation; on a wide screen it sits
   * beside it and stays open. */
  function toggle(on) {
    C.open = on;
    $('contact-pane').hidden = !on;
    document.body.classList.toggle('show-contact', on);
    $('a-contact').setAttribute('aria-expanded', String(on));
  }
  C.toggle = toggle;

  $('a-contact').addEventListener('click', () => toggle(!C.open));

  const wide = () => window.matchMedia('(min-width: 1100px)').matches;

  FD.on('ticket-shown', (t) => {
    if (wide() && !C.open) toggle(true);
    if (C.id !== (t.contact_id || 0) || !C.data) load(t.contact_id || 0);
  });
  FD.on('ticket-closed', () => {
    if (!wide()) toggle(false);
  });
  FD.on('escape', () => { if (C.open && !wide()) toggle(false); });
  /* One of the contact's conversations changed: its list follows. */
  let again = 0;
  FD.on('ticket', (t) => {
    if (!C.data || !C.id || !C.data.tickets.some((x) => x.id === t.id)) return;
    clearTimeout(again);
    again = setTimeout(() => load(C.id), 300);
  });

  FD.route(/^#\/contact\/(\d+)$/, (m) => {
    Q.currentId = 0;
    FD.show('panes');
    document.body.classList.remove('show-ticket');
    $('ticket').hidden = true;
    $('ticket-none').hidden = false;
    toggle(true);
    load(Number(m[1]));
  });
  FD.key('i', 'Show who the customer is', () => { if (FD.ticket.current) toggle(!C.open); });
})();
