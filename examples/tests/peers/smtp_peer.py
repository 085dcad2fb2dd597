"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1 that records what it receives.

Usage:
  smtp_peer.py --port PORT --cert PEM --key PEM --user NAME --password PW --out FILE
               [--mode starttls|tls] [--max-seconds N]

--mode starttls (default): plain SMTP that requires STARTTLS before anything else
(require_starttls) and AUTH (LOGIN or PLAIN) after it.
--mode tls: TLS from the first byte (implicit TLS, "SMTPS"), AUTH required.

Every accepted message is appended to --out as one JSON line:
  {"mail_from": ..., "rcpt_tos": [...], "auth_login": ..., "tls": true, "data": "<raw message>",
   "subject": ..., "text": "<decoded text/plain part>", "html": "<decoded text/html part>"}
Only a login with --user/--password is accepted; other credentials get 535.

When the server listens it prints "smtp-peer listening on 127.0.0.1:PORT". The process exits
when its standard input is closed (the test ended or died), on SIGTERM/SIGINT, and after
--max-seconds (300 by default).
"""

import argparse
import email
import email.policy
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, out_path, implicit_tls):
        self.out_path = out_path
        self.implicit_tls = implicit_tls
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "auth_login": (
                session.auth_data.login.decode("utf-8", "replace")
                if isinstance(session.auth_data, LoginPassword)
                else None
            ),
            "tls": self.implicit_tls or session.ssl is not None,
            "data": envelope.original_content.decode("utf-8", "replace"),
        }
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        record["subject"] = str(parsed.get("Subject", ""))
        for kind in ("plain", "html"):
            part = parsed.get_body(preferencelist=(kind,))
            record["text" if kind == "plain" else "html"] = (
                part.get_content() if part is not None else None
            )
        with self.lock:
            with open(self.out_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        return "250 Message accepted"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=["starttls", "tls"], default="starttls")
    p.add_argument("--max-seconds", type=float, default=300.0)
    args = p.parse_args()
    if args.port == 0:
        sys.exit("an explicit port is needed (aiosmtpd's start-up check connects to it)")

    user = args.user.encode()
    password = args.password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user
            and auth_data.password == password
        )
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False makes aiosmtpd answer 535 (its default, True, sends nothing).
        return AuthResult(success=False, handled=False)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    common = dict(
        hostname="127.0.0.1",
        port=args.port,
        authenticator=authenticator,
        auth_required=True,
        ready_timeout=20.0,
    )
    if args.mode == "starttls":
        controller = Controller(
            Recorder(args.out, False),
            tls_context=context,
            require_starttls=True,
            **common,
        )
    else:
        controller = Controller(
            Recorder(args.out, True),
            ssl_context=context,
            # The whole connection is TLS already.
            auth_require_tls=False,
            **common,
        )
    controller.start()
    print(f"smtp-peer listening on 127.0.0.1:{args.port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    parent = os.getppid()
    deadline = time.monotonic() + args.max_seconds
    while not stop.wait(0.2):
        if time.monotonic() > deadline or os.getppid() != parent:
            break
    controller.stop()


if __name__ == "__main__":
    main()
