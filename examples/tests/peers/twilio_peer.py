"""A stand-in SMS gateway for the tests, on 127.0.0.1; needs nothing beyond Python 3 itself.

Usage:
  twilio_peer.py --port PORT --out FILE [--mode twilio|webhook]
                 [--account-sid SID --auth-token TOKEN]       (twilio mode, both required)
                 [--expect-header 'Name: value' ...]           (webhook mode)
                 [--fail-first N] [--fail-status CODE] [--retry-after SECS]
                 [--max-seconds N]

--mode twilio (default) accepts only what Twilio's Messages API accepts, and answers as it
does: POST /2010-04-01/Accounts/<sid>/Messages.json with HTTP Basic auth <sid>:<token>,
Content-Type application/x-www-form-urlencoded, the fields To, Body and exactly one of From
or MessagingServiceSid, each once, and nothing else. A message is answered 201 with a
Message resource (sid SM..., status "queued"); anything else with Twilio's error JSON
({"code", "message", "more_info", "status"}) and a 4xx status: 401/20003 for other
credentials, 400/21211 for a To that is not an E.164 number (and for +15005550001, Twilio's
test number for that case), 400/21602 without Body, 400/21617 over 1600 characters, and so
on. A "detail" field says what this peer objected to.

--mode webhook accepts any method and path, requires each --expect-header (401 otherwise;
values are never echoed), and answers 202 {"id": "wh-N"}. A JSON content type must carry
JSON (400 otherwise).

--fail-first N answers the first N requests with --fail-status (default 503; with Twilio's
error JSON in twilio mode) and, when given, a Retry-After header, before the checks above.

Every accepted message is appended to --out as one JSON line. Twilio mode:
  {"mode": "twilio", "sid", "to", "from", "messaging_service_sid", "body", "account_sid"}
Webhook mode:
  {"mode": "webhook", "id", "method", "path", "query", "headers": {lower-case name: value},
   "content_type", "body": "<raw>", "json": <parsed or null>}

When it listens it prints "twilio-peer listening on 127.0.0.1:PORT". It exits when its
standard input closes (the test ended or died), when its parent process goes, on SIGTERM or
SIGINT, and after --max-seconds (300 by default).
"""

import argparse
import base64
import email.utils
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
SID = re.compile(r"^(AC|MG)[0-9a-fA-F]{32}$")
INVALID_TEST_NUMBER = "+15005550001"
FIELDS = {"To", "From", "MessagingServiceSid", "Body"}


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.accepted = 0

    def next_request(self):
        with self.lock:
            self.requests += 1
            return self.requests

    def record(self, record):
        with self.lock:
            self.accepted += 1
            with open(self.args.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
            return self.accepted


def twilio_error(status, code, message, detail=None):
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    if detail:
        body["detail"] = detail
    return status, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "twilio-peer/1"
    state = None  # set in main

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, status, body, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        state = self.state
        args = state.args
        raw = self._read_body()
        number = state.next_request()
        if number <= args.fail_first:
            extra = []
            if args.retry_after is not None:
                extra.append(("Retry-After", str(args.retry_after)))
            if args.mode == "twilio":
                status, body = twilio_error(
                    args.fail_status,
                    20000 + args.fail_status,
                    "Service unavailable" if args.fail_status >= 500 else "Too Many Requests",
                    f"test peer: request {number} of the first {args.fail_first} fails",
                )
            else:
                status, body = args.fail_status, {"error": "try again later"}
            self._answer(status, body, extra)
            return
        if args.mode == "twilio":
            status, body = self._twilio(raw)
        else:
            status, body = self._webhook(raw)
        self._answer(status, body)

    def _twilio(self, raw):
        args = self.state.args
        path = urllib.parse.urlsplit(self.path)
        want_path = f"/2010-04-01/Accounts/{args.account_sid}/Messages.json"
        if path.path != want_path or path.query:
            return twilio_error(
                404,
                20404,
                f"The requested resource {path.path} was not found",
                f"test peer: expected {want_path} without a query",
            )
        if self.command != "POST":
            return twilio_error(405, 20004, "Method not allowed", f"test peer: {self.command}")
        auth = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(
            f"{args.account_sid}:{args.auth_token}".encode()
        ).decode()
        if auth != expected:
            return twilio_error(
                401,
                20003,
                "Authentication Error - invalid username",
                "Your AccountSid or AuthToken was incorrect.",
            )
        content_type = self.headers.get("Content-Type", "")
        if content_type != "application/x-www-form-urlencoded":
            return twilio_error(
                400,
                21604,
                "A 'To' phone number is required.",
                f"test peer: Content-Type {content_type!r}, expected "
                "application/x-www-form-urlencoded",
            )
        try:
            pairs = urllib.parse.parse_qsl(
                raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw)
            )
        except (UnicodeDecodeError, ValueError) as e:
            return twilio_error(400, 21604, "A 'To' phone number is required.", f"test peer: {e}")
        fields = {}
        for name, value in pairs:
            if name not in FIELDS:
                return twilio_error(
                    400, 20001, f"Unexpected parameter {name}", "test peer: not a field we send"
                )
            if name in fields:
                return twilio_error(
                    400, 20001, f"Parameter {name} given twice", "test peer: each field once"
                )
            fields[name] = value
        to = fields.get("To")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        sender = fields.get("From")
        service = fields.get("MessagingServiceSid")
        if sender is None and service is None:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if sender is not None and service is not None:
            return twilio_error(
                400, 20001, "Give From or MessagingServiceSid", "test peer: both were sent"
            )
        if not E164.match(to) or to == INVALID_TEST_NUMBER:
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender is not None and not E164.match(sender):
            return twilio_error(
                400,
                21212,
                f"The 'From' number {sender} is not a valid phone number, shortcode, "
                "or alphanumeric sender ID.",
            )
        if service is not None and not (SID.match(service) and service.startswith("MG")):
            return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        text = fields.get("Body")
        if not text:
            return twilio_error(400, 21602, "Message body is required.")
        if len(text) > 1600:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        sid = "SM" + secrets.token_hex(16)
        self.state.record(
            {
                "mode": "twilio",
                "sid": sid,
                "account_sid": args.account_sid,
                "to": to,
                "from": sender,
                "messaging_service_sid": service,
                "body": text,
            }
        )
        now = email.utils.formatdate(usegmt=False).replace("-0000", "+0000")
        return 201, {
            "account_sid": args.account_sid,
            "api_version": "2010-04-01",
            "body": text,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(max(1, (len(text) + 152) // 153)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if sender is not None else "accepted",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{args.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/2010-04-01/Accounts/{args.account_sid}/Messages/{sid}.json",
        }

    def _webhook(self, raw):
        args = self.state.args
        for expected in args.expect_header:
            name, _, value = expected.partition(":")
            if self.headers.get(name.strip()) != value.strip():
                return 401, {"error": f"header {name.strip()} missing or wrong"}
        content_type = self.headers.get("Content-Type", "")
        text = raw.decode("utf-8", "replace")
        parsed = None
        media = content_type.split(";")[0].strip().lower()
        if media == "application/json" or media.endswith("+json"):
            try:
                parsed = json.loads(text)
            except ValueError as e:
                return 400, {"error": f"the body is not JSON: {e.msg}"}
        path = urllib.parse.urlsplit(self.path)
        ident = f"wh-{self.state.accepted + 1}"
        self.state.record(
            {
                "mode": "webhook",
                "id": ident,
                "method": self.command,
                "path": path.path,
                "query": path.query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "content_type": content_type,
                "body": text,
                "json": parsed,
            }
        )
        return 202, {"id": ident}

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle
    do_PATCH = _handle
    do_DELETE = _handle


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=["twilio", "webhook"], default="twilio")
    p.add_argument("--account-sid")
    p.add_argument("--auth-token")
    p.add_argument("--expect-header", action="append", default=[])
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--retry-after", type=int)
    p.add_argument("--max-seconds", type=float, default=300.0)
    args = p.parse_args()
    if args.mode == "twilio" and not (args.account_sid and args.auth_token):
        sys.exit("twilio mode needs --account-sid and --auth-token")

    Handler.state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"twilio-peer listening on 127.0.0.1:{port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    parent = os.getppid()
    deadline = time.monotonic() + args.max_seconds
    while not stop.wait(0.2):
        if time.monotonic() > deadline or os.getppid() != parent:
            break
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
