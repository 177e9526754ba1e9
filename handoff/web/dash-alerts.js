/*
 * dash-alerts.js - desktop notifications and a sound for new conversations
 * and for ones that pass their response target, through the browser's
 * Notification API.  Opt-in per agent and per browser (the browser keeps
 * the permission; the choice is kept in localStorage under the login).
 * Nothing is shown for what the agent does themselves, and each ticket is
 * announced once per kind while the page is open.
 */
'use strict';

(function () {
  const FD = window.FD, $ = FD.$, state = FD.state;

  const announced = { fresh: new Set(), overdue: new Set() };
  let started = 0; // tickets created before the page opened are not "new"

  const key = () => 'frontdesk:alerts:' + (state.me ? state.me.login : '');
  const supported = () => 'Notification' in window;

  const A = FD.alerts = {
    on: () => supported() && localStorage.getItem(key()) === 'on' && Notification.permission === 'granted',
    async set(on) {
      if (!supported()) {
        FD.toast('This browser cannot show notifications.', true);
        return;
      }
      if (on) {
        /* Asked every time it is turned on: answered at once when the
         * browser already allows it. */
        const p = await Notification.requestPermission();
        if (p !== 'granted') {
          FD.toast('Notifications are blocked for this site: allow them in the browser first.', true);
          on = false;
        }
      }
      try { localStorage.setItem(key(), on ? 'on' : 'off'); } catch (e) { /* private mode */ }
      button();
      if (on) FD.toast('Notifications on: new and overdue conversations, with a sound.');
    },
  };

  function button() {
    const b = $('alerts');
    const on = A.on();
    b.setAttribute('aria-pressed', String(on));
    b.title = 'Desktop notifications and sound: ' + (on ? 'on' : 'off');
  }
  $('alerts').addEventListener('click', () => A.set(!A.on()));

  /* A short two-tone chime, made here (nothing to download). */
  let audio = null;
  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const t0 = audio.currentTime;
      [880, 1320].forEach((f, i) => {
        const o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = f;
        g.gain.setValueAtTime(0.0001, t0 + i * 0.15);
        g.gain.exponentialRampToValueAtTime(0.2, t0 + i * 0.15 + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.15 + 0.3);
        o.connect(g).connect(audio.destination);
        o.start(t0 + i * 0.15);
        o.stop(t0 + i * 0.15 + 0.32);
      });
    } catch (e) { /* no sound: the notification still shows */ }
  }

  function notify(kind, t, title) {
    if (!A.on() || announced[kind].has(t.id)) return;
    announced[kind].add(t.id);
    const body = FD.shown(FD.customer(t) + ': ' + (t.last_message || ''));
    try {
      const n = new Notification(title, { body: body.slice(0, 180), tag: 'frontdesk-' + kind + '-' + t.id });
      n.onclick = () => { window.focus(); FD.go('#/ticket/' + t.id); n.close(); };
    } catch (e) { return; }
    chime();
  }

  FD.on('signedin', () => { started = Date.now(); button(); });
  FD.on('ticket', (t) => {
    if (t.status !== 'waiting' || FD.snoozed(t)) return;
    if (Date.parse(t.created) + 5000 < started) return;
    notify('fresh', t, 'New conversation #' + t.id);
  });
  FD.on('tick', (now) => {
    if (!A.on()) return;
    FD.known.forEach((t) => {
      if (t.status === 'resolved' || !t.due || t.first_response || FD.snoozed(t)) return;
      if (Date.parse(t.due) < now && Date.parse(t.due) > started - 60000) notify('overdue', t, 'Overdue: conversation #' + t.id);
    });
  });
})();
