#!/usr/bin/python3
"""An SMTP sink on loopback for the notification tests (Debian's
python3-aiosmtpd).  Prints one JSON line {"port": N} when it listens, then
one JSON line per message received:

  {"mail_from", "rcpt_tos", "from", "to", "subject", "date", "message_id",
   "content_type", "charset", "body", "defects", "bare_lf", "header_names",
   "authenticated"}

Headers and body are parsed with the standard library's email parser
(policy.default, so encoded words are decoded and defects are listed).

Usage: /usr/bin/python3 tests/e2e/smtp_sink.py [--user NAME --password-env VAR]
With --user, AUTH (PLAIN or LOGIN) with that name and the password from the
environment variable is required before MAIL; anything else gets 535.
"""
import argparse
import email
import email.policy
import json
import logging
import os
import re
import signal
import socket
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sink:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        try:
            body = msg.get_content()
        except Exception as e:  # a body the parser cannot decode is a defect
            body = None
            msg.defects.append(str(e))
        out = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]) if msg["From"] else None,
            "to": str(msg["To"]) if msg["To"] else None,
            "subject": str(msg["Subject"]) if msg["Subject"] else None,
            "date": str(msg["Date"]) if msg["Date"] else None,
            "message_id": str(msg["Message-ID"]) if msg["Message-ID"] else None,
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "body": body,
            "defects": [str(d) for d in msg.defects],
            "bare_lf": re.search(rb"(?<!\r)\n", raw) is not None,
            "header_names": list(msg.keys()),
            "authenticated": bool(session.authenticated),
        }
        print(json.dumps(out), flush=True)
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--user")
    ap.add_argument("--password-env")
    args = ap.parse_args()
    password = os.environ.get(args.password_env, "") if args.password_env else ""

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok)

    # AUTH without TLS is what this loopback test wants: no warning about it.
    warnings.filterwarnings("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    port = free_port()
    kw = {}
    if args.user:
        kw = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    ctl = Controller(Sink(), hostname="127.0.0.1", port=port, **kw)
    ctl.start()
    print(json.dumps({"port": port}), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: (ctl.stop(), sys.exit(0)))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    ctl.stop()


if __name__ == "__main__":
    main()
