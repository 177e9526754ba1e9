/*
 * frontdesk web chat widget.  Embed with
 *   <script src="https://YOUR-BOT-HOST/widget.js" defer></script>
 * It adds a "Chat with us" button; the conversation survives reloads and
 * reconnects (the visitor token is kept in localStorage), and messages not
 * yet confirmed by the server are sent again with the same client_id.
 * A long conversation opens on its latest messages; older ones are read a
 * page at a time when the visitor scrolls to the top (or presses "Show
 * earlier messages").  After hours, and whenever a person has the
 * conversation, it offers to leave an e-mail address: a person's reply
 * that finds the visitor gone is mailed there, with a link back here
 * (#frontdesk=TOKEN, which this script takes up and removes from the
 * address bar).
 *
 * A shop whose customers sign in can tell the chat who the visitor is:
 *   frontdeskChat.identify({ id: 'cust-42', name: 'Ann', email: 'ann@example.com',
 *                            hash: '<hex HMAC-SHA256 of id, made by your server>' })
 * (README, "Identity verification").  A different id than before starts a
 * new conversation: one customer never sees another's.  Where the chat is
 * set up with a pre-chat form, a new visitor who has not been identified
 * gives a name and e-mail address before the first message.
 * When a person resolves the conversation, the chat asks the visitor to
 * rate it: five buttons and an optional comment under the question.  While
 * a person writes a reply, "Sam is typing..." shows under the conversation
 * (and the team sees when the visitor types).  Links in messages are
 * clickable (http and https only, opened in a new tab, rel="noopener
 * nofollow").  Colour, title, greeting, position, the launcher's words and
 * every other string come from the chat's configuration (`widget:` in the
 * web chat connector's settings), filled in by the server below.
 * Protocol: docs/webchat-protocol.md in the sources.
 */
(function () {
	'use strict';
	if (window.frontdeskChat) return;
	var script = document.currentScript;
	var base = new URL(script && script.src ? script.src : location.href);
	var wsUrl = (base.protocol === 'https:' ? 'wss://' : 'ws://') + base.host + '/chat';
	var ns = 'frontdesk:' + base.host + ':';
	var MAX_TEXT = 2000;
	/* The chat's settings, filled in by the server that serves this file. */
	var settings = /*FRONTDESK_SETTINGS*/null;
	var S = {
		launcher: 'Chat with us', title: 'Chat with us', title_business: 'Chat with {business}',
		greeting: 'Hi! Ask us anything. We answer common questions right away and pass the rest to a person.',
		unread: 'Chat with us (new reply)', close: 'Close chat', conversation: 'Conversation',
		older: 'Show earlier messages', loading: 'Loading\u2026', placeholder: 'Type your message\u2026',
		message_label: 'Your message', hint: 'Enter sends; Shift+Enter starts a new line.', send: 'Send',
		you: 'You', staff: 'Staff', assistant: 'Assistant', assistant_of: '{business} (assistant)',
		connecting: 'Connecting\u2026', reconnecting: 'Reconnecting\u2026', lost: 'Connection lost. Reconnecting\u2026',
		closed: "We're closed right now; a person will reply when we're back.",
		sending: 'Sending\u2026', waiting: 'Waiting for connection\u2026',
		mail_open: "A person will answer here. Leave your e-mail (optional) and we'll also send the answer there if you've left by then:",
		mail_closed: "We're closed right now. Leave your e-mail (optional) and a person will follow up:",
		mail_save: 'Save', mail_thanks: "Thanks, we'll follow up at {email}.",
		prechat_intro: 'Before we start: who are we talking to?', prechat_name: 'Your name',
		prechat_email: 'Your e-mail address', prechat_optional: ' (optional)', prechat_start: 'Start chatting',
		rate_label: 'Rate this conversation', rate_comment: 'Anything you would like to add? (optional)',
		rate_send: 'Send rating', rate_thanks: 'Thank you for your feedback!',
		rate_names: 'Very poor|Poor|OK|Good|Excellent', typing: '{name} is typing\u2026',
	};
	if (settings && settings.strings) for (var sk in settings.strings) if (typeof settings.strings[sk] === 'string') S[sk] = settings.strings[sk];
	if (settings && settings.launcher) S.launcher = settings.launcher;
	if (settings && settings.greeting) S.greeting = settings.greeting;
	function fill(t, vars) {
		return String(t).replace(/\{(\w+)\}/g, function (m, k) { return vars && k in vars ? vars[k] : m; });
	}

	function load(key, dflt) {
		try {
			var v = localStorage.getItem(ns + key);
			return v === null ? dflt : JSON.parse(v);
		} catch (e) {
			return dflt;
		}
	}
	function save(key, v) {
		try {
			localStorage.setItem(ns + key, JSON.stringify(v));
		} catch (e) { /* private mode: the chat still works for this page */ }
	}
	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
		if (text) e.textContent = text;
		return e;
	}
	function newId() {
		var a = new Uint8Array(9);
		crypto.getRandomValues(a);
		return Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
	}

	var css = el('link', { rel: 'stylesheet', href: base.origin + '/widget.css' });
	document.head.appendChild(css);

	var uid = 'fd-' + newId();
	var root = el('div', { class: 'fd-chat' + (settings && settings.position === 'left' ? ' fd-left' : '') });
	if (settings && /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(settings.color || '')) root.style.setProperty('--fd-accent', settings.color);
	var launch = el('button', { type: 'button', class: 'fd-launch', 'aria-expanded': 'false', 'aria-controls': uid }, S.launcher);
	var panel = el('section', { id: uid, class: 'fd-panel', role: 'dialog', 'aria-labelledby': uid + '-t', hidden: '' });
	var head = el('header', { class: 'fd-head' });
	var title = el('h2', { id: uid + '-t' }, settings && settings.title ? settings.title : S.title);
	var close = el('button', { type: 'button', class: 'fd-close', 'aria-label': S.close }, '\u00d7');
	head.appendChild(title);
	head.appendChild(close);
	var status = el('p', { class: 'fd-status', role: 'status', 'aria-live': 'polite' });
	var log = el('ol', { class: 'fd-log', role: 'log', 'aria-live': 'polite', 'aria-label': S.conversation, tabindex: '0' });
	var intro = el('li', { class: 'fd-intro' }, S.greeting);
	log.appendChild(intro);
	var moreItem = el('li', { class: 'fd-more', hidden: '' });
	var moreBtn = el('button', { type: 'button' }, S.older);
	var typingLine = el('p', { class: 'fd-typing', 'aria-live': 'polite', hidden: '' });

	/* The satisfaction question's answer: 1-5 and an optional comment. */
	var rate = el('form', { class: 'fd-rate', hidden: '' });
	var rateLabel = el('p', { class: 'fd-rate-label', id: uid + '-r' }, S.rate_label);
	var rateRow = el('div', { class: 'fd-rate-row', role: 'radiogroup', 'aria-labelledby': uid + '-r' });
	var rateNames = S.rate_names.split('|');
	var rateBtns = [1, 2, 3, 4, 5].map(function (n) {
		var b = el('button', { type: 'button', class: 'fd-star', role: 'radio', 'aria-checked': 'false',
			'aria-label': n + ' / 5' + (rateNames[n - 1] ? ' \u2013 ' + rateNames[n - 1] : ''), 'data-score': String(n) }, '\u2605');
		rateRow.appendChild(b);
		return b;
	});
	var rateComment = el('textarea', { rows: '2', maxlength: '1000', 'aria-label': S.rate_comment, placeholder: S.rate_comment });
	var rateSend = el('button', { type: 'submit', disabled: '' }, S.rate_send);
	rate.appendChild(rateLabel);
	rate.appendChild(rateRow);
	rate.appendChild(rateComment);
	rate.appendChild(rateSend);
	moreItem.appendChild(moreBtn);
	log.appendChild(moreItem);

	var mailForm = el('form', { class: 'fd-mail', hidden: '' });
	var mailLabel = el('label', { for: uid + '-m' });
	var mailInput = el('input', { id: uid + '-m', type: 'email', autocomplete: 'email', maxlength: '254' });
	var mailBtn = el('button', { type: 'submit' }, S.mail_save);
	mailForm.appendChild(mailLabel);
	mailForm.appendChild(mailInput);
	mailForm.appendChild(mailBtn);

	/* The pre-chat form (shown when the server asks for it). */
	var pre = el('form', { class: 'fd-pre', hidden: '' });
	var preIntro = el('p', { class: 'fd-pre-intro' }, S.prechat_intro);
	var preName = el('input', { id: uid + '-pn', type: 'text', autocomplete: 'name', maxlength: '128' });
	var preMail = el('input', { id: uid + '-pe', type: 'email', autocomplete: 'email', maxlength: '254' });
	var preNameL = el('label', { for: uid + '-pn' }, S.prechat_name);
	var preMailL = el('label', { for: uid + '-pe' }, S.prechat_email);
	var preBtn = el('button', { type: 'submit' }, S.prechat_start);
	pre.appendChild(preIntro);
	pre.appendChild(preNameL);
	pre.appendChild(preName);
	pre.appendChild(preMailL);
	pre.appendChild(preMail);
	pre.appendChild(preBtn);

	var form = el('form', { class: 'fd-form' });
	var label = el('label', { for: uid + '-i', class: 'fd-sr' }, S.message_label);
	var input = el('textarea', { id: uid + '-i', rows: '2', maxlength: String(MAX_TEXT), placeholder: S.placeholder, 'aria-describedby': uid + '-h' });
	var hint = el('span', { id: uid + '-h', class: 'fd-sr' }, S.hint);
	var send = el('button', { type: 'submit' }, S.send);
	form.appendChild(label);
	form.appendChild(input);
	form.appendChild(hint);
	form.appendChild(send);

	panel.appendChild(head);
	panel.appendChild(status);
	panel.appendChild(log);
	panel.appendChild(typingLine);
	panel.appendChild(rate);
	panel.appendChild(mailForm);
	panel.appendChild(pre);
	panel.appendChild(form);
	root.appendChild(launch);
	root.appendChild(panel);
	document.body.appendChild(root);

	var ws = null, ready = false, attempt = 0, timer = null, business = '';
	var identity = null;                /* what identify() was given, sent after every welcome */
	var welcome = null;                 /* the last welcome: {f, history} (for the pre-chat form) */
	var isOpen = true, ticket = false, mailSending = false;
	var shown = {};                     /* message ids on screen */
	var pending = load('pending', []);  /* [{c: client_id, t: text}] not yet confirmed */
	var items = {};                     /* client_id -> <li> */
	var oldest = null;                  /* id of the oldest message shown */
	var more = false, loadingOlder = false;
	var rateTicket = null, rateScore = 0;  /* the question pending, the score chosen */
	var typingTimer = null, typingSent = 0; /* the agent's indicator; when ours was last sent */

	function who(m) {
		if (m.from === 'customer') return S.you;
		if (m.from === 'agent') return m.agent || S.staff;
		return business ? fill(S.assistant_of, { business: business }) : S.assistant;
	}
	/* Text with its http(s) links as links: built from text nodes and
	 * <a> elements (never markup from the message), so nothing in a
	 * message can run or style anything. */
	var LINK = /\bhttps?:\/\/[^\s<>"']+/gi;
	function linked(tag, cls, text) {
		var p = el(tag, { class: cls });
		var s = String(text || ''), at = 0, m;
		LINK.lastIndex = 0;
		while ((m = LINK.exec(s))) {
			var url = m[0].replace(/[.,;:!?)\]}]+$/, '');
			if (!url.length) continue;
			if (m.index > at) p.appendChild(document.createTextNode(s.slice(at, m.index)));
			var a = el('a', { href: url, target: '_blank', rel: 'noopener nofollow noreferrer' }, url);
			p.appendChild(a);
			at = m.index + url.length;
			LINK.lastIndex = at;
		}
		if (at < s.length) p.appendChild(document.createTextNode(s.slice(at)));
		return p;
	}
	function time(ts) {
		var d = new Date(ts);
		return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
	}
	function render(m, state) {
		var li = el('li', { class: 'fd-msg fd-' + (m.from || 'customer') });
		var meta = el('span', { class: 'fd-who' }, who(m));
		if (m.ts) meta.appendChild(el('time', { datetime: m.ts }, ' ' + time(m.ts)));
		li.appendChild(meta);
		li.appendChild(linked('p', 'fd-text', m.text));
		if (state) li.appendChild(el('span', { class: 'fd-state' }, state));
		return li;
	}
	function scroll() {
		log.scrollTop = log.scrollHeight;
	}
	function setState(li, text) {
		var s = li.querySelector('.fd-state');
		if (!text) {
			if (s) s.remove();
			return;
		}
		if (!s) li.appendChild(s = el('span', { class: 'fd-state' }));
		s.textContent = text;
	}
	function setMore(v) {
		more = !!v;
		loadingOlder = false;
		moreItem.hidden = !more;
		moreBtn.disabled = false;
		moreBtn.textContent = S.older;
	}
	function noteOldest(id) {
		if (id && (oldest === null || Number(id) < Number(oldest))) oldest = id;
	}
	/* Older messages go above the first one shown, keeping the view still. */
	function showOlder(list) {
		var first = log.querySelector('.fd-msg');
		var h0 = log.scrollHeight;
		list.forEach(function (m) {
			if (m.id && shown[m.id]) return;
			if (m.id) shown[m.id] = true;
			noteOldest(m.id);
			log.insertBefore(render(m), first);
		});
		log.scrollTop += log.scrollHeight - h0;
	}
	function loadOlder() {
		if (!ready || !more || loadingOlder || oldest === null) return;
		loadingOlder = true;
		moreBtn.disabled = true;
		moreBtn.textContent = S.loading;
		ws.send(JSON.stringify({ type: 'history', before: String(oldest) }));
	}
	function show(m) {
		if (m.id && shown[m.id]) return;
		if (m.id) shown[m.id] = true;
		noteOldest(m.id);
		if (m.from === 'customer' && m.client_id && items[m.client_id]) {
			var li = items[m.client_id];
			setState(li, '');
			if (m.ts) li.querySelector('.fd-who').appendChild(el('time', { datetime: m.ts }, ' ' + time(m.ts)));
			delete items[m.client_id];
			return;
		}
		log.appendChild(render(m));
		if (m.from === 'agent') showTyping(null);
		scroll();
		if (panel.hidden && m.from !== 'customer') {
			launch.classList.add('fd-unread');
			launch.textContent = S.unread;
		}
	}
	function settle(cid) {
		pending = pending.filter(function (p) { return p.c !== cid; });
		save('pending', pending);
	}
	function transmit(p) {
		if (ready) ws.send(JSON.stringify({ type: 'message', text: p.t, client_id: p.c }));
	}

	function connect() {
		timer = null;
		var token = load('visitor', '');
		ready = false;
		status.textContent = attempt ? S.reconnecting : S.connecting;
		try {
			ws = new WebSocket(wsUrl + (token ? '?visitor=' + encodeURIComponent(token) : ''));
		} catch (e) {
			return retry();
		}
		ws.onmessage = function (ev) {
			var f;
			try { f = JSON.parse(ev.data); } catch (e) { return; }
			if (f.type === 'welcome') onWelcome(f);
			else if (f.type === 'message') onMessage(f);
			else if (f.type === 'error') onError(f);
			else if (f.type === 'history') {
				showOlder(f.messages || []);
				setMore(f.more);
			}
			else if (f.type === 'email') onEmail(f);
			else if (f.type === 'identify') onIdentified(f);
			else if (f.type === 'ticket') {
				ticket = !!f.open;
				offerMail();
			}
			else if (f.type === 'rate') askRating(f.rate);
			else if (f.type === 'rating') onRated(f);
			else if (f.type === 'typing') showTyping(f.on ? f : null);
		};
		ws.onclose = function () {
			ready = false;
			retry();
		};
	}
	function retry() {
		if (timer) return;
		/* Exponential backoff with full jitter, 1 s .. 30 s. */
		var cap = Math.min(30000, 1000 * Math.pow(2, attempt++));
		status.textContent = S.lost;
		showTyping(null);
		timer = setTimeout(connect, 500 + Math.random() * cap);
	}
	function onWelcome(f) {
		attempt = 0;
		ready = true;
		business = f.business || '';
		if (business && !(settings && settings.title)) title.textContent = fill(S.title_business, { business: business });
		var keepOlder = false;
		if (f.visitor !== load('visitor', '')) {
			/* A new conversation: what was on screen belongs to the old one. */
			save('visitor', f.visitor);
			save('email', '');
			shown = {};
			oldest = null;
			Array.prototype.forEach.call(log.querySelectorAll('.fd-msg'), function (li) { li.remove(); });
		} else {
			/* Reconnected: pages read before are still on screen. */
			keepOlder = oldest !== null && f.history && f.history.length && Number(oldest) < Number(f.history[0].id);
		}
		status.textContent = f.open ? '' : S.closed;
		isOpen = !!f.open;
		ticket = !!f.ticket;
		if (f.email) save('email', f.email);
		offerMail();
		welcome = { f: f, history: (f.history || []).length > 0 || pending.length > 0 };
		preChat(f, welcome.history);
		sendIdentity();
		var confirmed = {};
		(f.history || []).forEach(function (m) {
			if (m.client_id) confirmed[m.client_id] = true;
			show(m);
		});
		if (!keepOlder) setMore(f.more);
		askRating(f.rate || null);
		pending.forEach(function (p) {
			if (confirmed[p.c]) return;
			if (!items[p.c]) {
				items[p.c] = render({ from: 'customer', text: p.t }, S.sending);
				log.appendChild(items[p.c]);
			}
			transmit(p);
		});
		pending = pending.filter(function (p) { return !confirmed[p.c]; });
		save('pending', pending);
		scroll();
	}
	/* The e-mail field: after hours, or once a person has the conversation,
	 * until an address is stored. */
	function offerMail() {
		if (load('email', '') !== '' || (isOpen && !ticket)) {
			mailForm.hidden = true;
			return;
		}
		mailLabel.textContent = isOpen ? S.mail_open : S.mail_closed;
		mailForm.hidden = false;
	}
	function onEmail(f) {
		/* Stored: only now is it saved here and the field put away. */
		mailSending = false;
		mailBtn.disabled = false;
		save('email', f.email);
		mailForm.hidden = true;
		status.textContent = fill(S.mail_thanks, { email: f.email });
	}
	/* Who the visitor is: sent after every welcome (the server keeps it
	 * with the conversation from the first message on). */
	function sendIdentity() {
		if (ready && identity) ws.send(JSON.stringify({ type: 'identify', id: identity.id, name: identity.name,
			email: identity.email, hash: identity.hash }));
	}
	function onIdentified(f) {
		if (f.verified) {
			pre.hidden = true;
			form.hidden = false;
		} else {
			/* Refused: the visitor is anonymous, as if identify was never
			 * called (the pre-chat form, where there is one). */
			identity = null;
			if (welcome) preChat(welcome.f, welcome.history);
			if (window.console) console.warn('frontdesk chat: identify refused: ' + (f.error || 'the hash does not match'));
		}
	}
	/* The pre-chat form for a new visitor, when the chat asks for one and
	 * the visitor is neither identified nor has filled it in before. */
	function preChat(f, history) {
		var p = f.pre_chat;
		var want = p && (p.name !== 'off' || p.email !== 'off');
		if (!want || identity || load('prechat', false) || history) {
			pre.hidden = true;
			form.hidden = false;
			return;
		}
		preName.hidden = preNameL.hidden = p.name === 'off';
		preMail.hidden = preMailL.hidden = p.email === 'off';
		preName.required = p.name === 'required';
		preMail.required = p.email === 'required';
		preNameL.textContent = S.prechat_name + (p.name === 'optional' ? S.prechat_optional : '');
		preMailL.textContent = S.prechat_email + (p.email === 'optional' ? S.prechat_optional : '');
		pre.hidden = false;
		form.hidden = true;
		mailForm.hidden = true;
	}
	pre.addEventListener('submit', function (e) {
		e.preventDefault();
		if (!ready) return;
		var frame = { type: 'contact' };
		if (!preName.hidden && preName.value.trim()) frame.name = preName.value.trim();
		if (!preMail.hidden && preMail.value.trim()) frame.email = preMail.value.trim();
		ws.send(JSON.stringify(frame));
		save('prechat', true);
		pre.hidden = true;
		form.hidden = false;
		offerMail();
		input.focus();
	});

	function onMessage(m) {
		if (m.from === 'customer' && m.client_id) settle(m.client_id);
		show(m);
	}
	/* The satisfaction question ({ticket}) is pending, or (null) not. */
	function askRating(r) {
		rateTicket = r && r.ticket ? String(r.ticket) : null;
		rate.hidden = !rateTicket;
		if (!rateTicket) return;
		/* Asked once a person resolved the conversation: no e-mail offer now. */
		ticket = false;
		offerMail();
		rateScore = 0;
		rateSend.disabled = true;
		rateBtns.forEach(function (b) { b.setAttribute('aria-checked', 'false'); b.classList.remove('fd-on'); });
		scroll();
	}
	function onRated(f) {
		rateTicket = null;
		rate.hidden = true;
		rateComment.value = '';
		status.textContent = S.rate_thanks;
	}
	rateBtns.forEach(function (b) {
		b.addEventListener('click', function () {
			rateScore = Number(b.getAttribute('data-score'));
			rateBtns.forEach(function (x) {
				var on = Number(x.getAttribute('data-score')) <= rateScore;
				x.classList.toggle('fd-on', on);
				x.setAttribute('aria-checked', String(x === b));
			});
			rateSend.disabled = false;
		});
	});
	rate.addEventListener('submit', function (e) {
		e.preventDefault();
		if (!ready || !rateTicket || !rateScore) return;
		var frame = { type: 'rating', ticket: rateTicket, score: rateScore };
		var c = rateComment.value.trim();
		if (c) frame.comment = c.slice(0, 1000);
		rateSend.disabled = true;
		ws.send(JSON.stringify(frame));
	});
	/* "Sam is typing..." ({agent}), or nothing (null); it goes by itself
	 * when no word comes for a while. */
	function showTyping(f) {
		clearTimeout(typingTimer);
		typingLine.hidden = !f;
		typingLine.textContent = f ? fill(S.typing, { name: f.agent || S.staff }) : '';
		if (f) typingTimer = setTimeout(function () { showTyping(null); }, 8000);
	}
	/* Ours: at most one "typing" every 3 s while the visitor writes, and
	 * "stopped" once the box is empty or the message went. */
	function typing(on) {
		if (!ready) return;
		var now = Date.now();
		if (on && now - typingSent < 3000) return;
		if (!on && !typingSent) return;
		typingSent = on ? now : 0;
		ws.send(JSON.stringify({ type: 'typing', on: on }));
	}
	function onError(f) {
		if (f.client_id && items[f.client_id]) {
			/* Not stored: keep it and try again shortly. */
			setState(items[f.client_id], 'Not sent yet: ' + f.error + ' Retrying\u2026');
			var p = pending.filter(function (x) { return x.c === f.client_id; })[0];
			if (p) setTimeout(function () { transmit(p); }, 3000 + Math.random() * 3000);
		} else {
			if (mailSending) {
				mailSending = false;
				mailBtn.disabled = false;
			}
			if (rateTicket && rateSend.disabled && rateScore) {
				/* The rating was refused: given already (in words), or too late. */
				rateTicket = null;
				rate.hidden = true;
			}
			status.textContent = f.error;
		}
	}

	function submit() {
		var text = input.value.trim();
		if (!text) return;
		if (text.length > MAX_TEXT) text = text.slice(0, MAX_TEXT);
		var p = { c: newId(), t: text };
		pending.push(p);
		save('pending', pending);
		items[p.c] = render({ from: 'customer', text: text }, ready ? S.sending : S.waiting);
		log.appendChild(items[p.c]);
		scroll();
		input.value = '';
		typing(false);
		transmit(p);
	}
	form.addEventListener('submit', function (e) {
		e.preventDefault();
		submit();
	});
	input.addEventListener('input', function () { typing(input.value.trim() !== ''); });
	input.addEventListener('keydown', function (e) {
		if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
			e.preventDefault();
			submit();
		}
	});
	mailForm.addEventListener('submit', function (e) {
		e.preventDefault();
		var v = mailInput.value.trim();
		if (!v || !ready || mailSending) return;
		mailSending = true;
		mailBtn.disabled = true;
		ws.send(JSON.stringify({ type: 'email', email: v }));
	});

	function open(state) {
		panel.hidden = !state;
		launch.setAttribute('aria-expanded', String(state));
		root.classList.toggle('fd-open', state);
		if (state) {
			launch.classList.remove('fd-unread');
			launch.textContent = S.launcher;
			if (!ws) connect();
			input.focus();
			scroll();
		} else {
			launch.focus();
		}
	}
	moreBtn.addEventListener('click', loadOlder);
	log.addEventListener('scroll', function () {
		if (log.scrollTop < 40) loadOlder();
	});
	launch.addEventListener('click', function () { open(panel.hidden); });
	close.addEventListener('click', function () { open(false); });
	panel.addEventListener('keydown', function (e) {
		if (e.key === 'Escape') open(false);
	});
	/* A link from an e-mail (#frontdesk=TOKEN) reopens that conversation;
	 * the token leaves the address bar at once. */
	var link = /(?:^#|&)frontdesk=([A-Za-z0-9_-]{16,64})(?:&|$)/.exec(location.hash);
	if (link) {
		save('visitor', link[1]);
		try {
			history.replaceState(null, '', location.pathname + location.search);
		} catch (e) { /* an odd page: the token stays visible, harmlessly */ }
	}
	/* A returning visitor gets replies written while away without opening. */
	if (load('visitor', '') || pending.length) connect();
	window.frontdeskChat = {
		open: function () { open(true); },
		/* {id, name?, email?, hash}: see the top of this file. */
		identify: function (who) {
			if (!who || typeof who.id !== 'string' || typeof who.hash !== 'string') return;
			var before = load('identified', '');
			identity = { id: who.id, name: who.name || undefined, email: who.email || undefined, hash: who.hash };
			save('identified', who.id);
			if (before && before !== who.id) {
				/* Someone else signed in on this browser: their own conversation. */
				save('visitor', '');
				save('pending', []);
				save('prechat', false);
				save('email', '');
				pending = [];
				if (ws) ws.close();
				return;
			}
			sendIdentity();
		},
	};
	if (link || (script && script.hasAttribute('data-open'))) open(true);
})();
