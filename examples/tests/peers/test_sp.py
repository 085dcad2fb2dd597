"""The test SP: a pysaml2 service provider web application for the browser tests.

Usage:
  test_sp.py metadata --base URL --out FILE [--key-dir DIR] [options]
  test_sp.py serve --port PORT --idp-metadata-url URL [--base URL] [--key-dir DIR] [options]

`metadata` writes the SP's metadata and exits: entityID {base}/metadata, an
HTTP-POST AssertionConsumerService at {base}/acs, an HTTP-Redirect
SingleLogoutService at {base}/slo, WantAssertionsSigned="true". With --key-dir the
SP has an RSA key (created there with openssl when missing, as sp-key.pem and
sp-cert.pem) and its certificate is in the metadata; it signs its LogoutRequests
and LogoutResponses with it, and its AuthnRequests too with --sign-authn-requests.
Give `serve` the same --base, --key-dir and options as `metadata`.

`serve` loads the IdP's metadata from --idp-metadata-url (retrying for up to 30 s),
listens on 127.0.0.1:PORT, prints "test-sp listening on BASE" and serves:
  GET  /           "Not signed in" and a link a#login, or the signed-in session
  GET  /login      an AuthnRequest to the IdP (Redirect binding; ?binding=post for
                   HTTP-POST); ?relay=R sends RelayState R, ?force=1 ForceAuthn,
                   ?passive=1 IsPassive
  POST /acs        checks the SAMLResponse; 200 "Signed in" or 403 "Refused"
  GET  /logout     a signed LogoutRequest for the session to the IdP (Redirect)
  GET  /slo        a LogoutResponse from the IdP (answering /logout) or a
                   LogoutRequest from the IdP (answered with a LogoutResponse)
  GET  /healthz    "ok"
Pages mark their result with h1#status; a refusal gives its reason in pre#error.

The process exits on SIGTERM/SIGINT, when its parent process goes away, and after
--max-seconds (600 by default).
"""
import argparse
import base64
import html
import http.cookies
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# pysaml2 imports a cipher mode that newer cryptography releases deprecate.
warnings.filterwarnings("ignore", message="CFB has been moved")

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import (
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_TRANSIENT,
    NAMEID_FORMAT_UNSPECIFIED,
    SCM_BEARER,
)
from saml2.samlp import STATUS_SUCCESS
from saml2.validate import valid_instance
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

NAME_ID_FORMATS = {
    "persistent": NAMEID_FORMAT_PERSISTENT,
    "transient": NAMEID_FORMAT_TRANSIENT,
    "email": NAMEID_FORMAT_EMAILADDRESS,
    "unspecified": NAMEID_FORMAT_UNSPECIFIED,
}
REDIRECT_SIG_HASHES = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
}
COOKIE = "test_sp_session"
MAX_BODY = 1 << 20
PENDING_TTL = 600


class Refused(Exception):
    """A message the SP does not accept; the text is shown in pre#error."""


# --- configuration ----------------------------------------------------------------


def key_files(key_dir):
    """The SP's key and certificate in key_dir, created with openssl when missing."""
    os.makedirs(key_dir, exist_ok=True)
    key = os.path.join(key_dir, "sp-key.pem")
    cert = os.path.join(key_dir, "sp-cert.pem")
    if not (os.path.exists(key) and os.path.exists(cert)):
        tmp_key = f"{key}.{os.getpid()}.tmp"
        tmp_cert = f"{cert}.{os.getpid()}.tmp"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
             "-days", "3650", "-subj", "/CN=idforge test SP",
             "-keyout", tmp_key, "-out", tmp_cert],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        os.chmod(tmp_key, 0o600)
        # Certificate last: a reader that sees it also finds the key.
        os.replace(tmp_key, key)
        os.replace(tmp_cert, cert)
    return key, cert


def sp_config(args, idp_metadata=None):
    base = args.base.rstrip("/")
    sp = {
        "endpoints": {
            "assertion_consumer_service": [(base + "/acs", BINDING_HTTP_POST)],
            "single_logout_service": [(base + "/slo", BINDING_HTTP_REDIRECT)],
        },
        # IdP-initiated responses carry no InResponseTo; pysaml2 refuses them unless
        # this is set. The handler below still checks any InResponseTo itself.
        "allow_unsolicited": True,
        "authn_requests_signed": bool(args.sign_authn_requests),
        "logout_requests_signed": bool(args.key_dir),
        "want_assertions_signed": True,
        "want_response_signed": False,
        # Keep every attribute under the name the IdP sent.
        "allow_unknown_attributes": True,
    }
    if args.name_id_format:
        fmt = NAME_ID_FORMATS[args.name_id_format]
        sp["name_id_format"] = [fmt]
        sp["name_id_policy_format"] = fmt
        # pysaml2 otherwise sends AllowCreate="false": no new identifier on a first login.
        sp["name_id_format_allow_create"] = True
    conf = {
        "entityid": base + "/metadata",
        "name": "idforge test SP",
        "service": {"sp": sp},
        "xmlsec_binary": shutil.which("xmlsec1") or "/usr/bin/xmlsec1",
        "accepted_time_diff": args.clock_skew,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
    }
    if args.key_dir:
        conf["key_file"], conf["cert_file"] = key_files(args.key_dir)
    if idp_metadata is not None:
        conf["metadata"] = {"inline": [idp_metadata]}
    config = SPConfig()
    config.load(conf)
    return config


def fetch_idp_metadata(url, wait):
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                body = answer.read().decode("utf-8")
            if "EntityDescriptor" in body:
                return body
            problem = "the answer holds no EntityDescriptor"
        except (urllib.error.URLError, OSError, UnicodeDecodeError) as e:
            problem = str(e)
        if time.monotonic() >= deadline:
            sys.exit(f"test-sp: no IdP metadata from {url} after {wait}s: {problem}")
        time.sleep(0.25)


# --- the service provider ---------------------------------------------------------


class TestSP:
    def __init__(self, args, idp_metadata):
        self.base = args.base.rstrip("/")
        self.acs_url = self.base + "/acs"
        self.slo_url = self.base + "/slo"
        self.refuse_unsolicited = args.refuse_unsolicited
        self.signs = bool(args.key_dir)
        self.sign_authn = bool(args.sign_authn_requests)
        self.client = Saml2Client(config=sp_config(args, idp_metadata))
        idps = self.client.metadata.identity_providers()
        if len(idps) != 1:
            sys.exit(f"test-sp: the IdP metadata must describe one IdP, found {len(idps)}")
        self.idp = idps[0]
        self.idp_certs = [
            x509.load_der_x509_certificate(base64.b64decode("".join(pem.split())))
            for _, pem in self.client.metadata.certs(self.idp, "idpsso", "signing")
        ]
        if not self.idp_certs:
            sys.exit("test-sp: the IdP metadata has no signing certificate")
        self.lock = threading.Lock()
        self.pending_authn = {}  # AuthnRequest ID -> (RelayState or None, time)
        self.pending_logout = {}  # LogoutRequest ID -> (None, time)
        self.seen_ids = set()  # Response and Assertion IDs already consumed
        self.sessions = {}  # cookie value -> session dict

    # -- SSO --

    def start_login(self, relay, post, force, passive):
        extra = {}
        if force:
            extra["force_authn"] = "true"
        if passive:
            extra["is_passive"] = "true"
        binding = BINDING_HTTP_POST if post else BINDING_HTTP_REDIRECT
        with self.lock:
            destination = self.client.sso_location(self.idp, binding)
            # create_authn_request's binding is the response's (ProtocolBinding and
            # the AssertionConsumerServiceURL), not the request's transport.
            reqid, request = self.client.create_authn_request(
                destination, binding=BINDING_HTTP_POST, sign=self.sign_authn and post,
                sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256, **extra
            )
            self.pending_authn[reqid] = (relay, time.monotonic())
            if post:
                return reqid, ("post", destination, base64.b64encode(str(request).encode()).decode())
            info = self.client.apply_binding(
                BINDING_HTTP_REDIRECT, str(request), destination, relay or "",
                sign=self.sign_authn, sigalg=SIG_RSA_SHA256,
            )
        return reqid, ("redirect", dict(info["headers"])["Location"])

    def consume(self, saml_response, relay, remote_addr):
        """Checks a SAMLResponse; returns (session id, session) or raises Refused."""
        with self.lock:
            self._expire()
            try:
                # Without conv_info pysaml2 does not compare Recipient with the ACS URL.
                resp = self.client.parse_authn_request_response(
                    saml_response, BINDING_HTTP_POST, dict(self.pending_authn),
                    conv_info={"remote_addr": remote_addr},
                )
            except Exception as e:  # noqa: BLE001 - pysaml2 raises many types
                raise Refused(f"pysaml2: {type(e).__name__}: {e}") from e
            if resp is None:
                raise Refused("pysaml2: the SAMLResponse could not be read")
            return self._check(resp, relay)

    def _check(self, resp, relay):
        """What pysaml2 leaves to the caller (checked with the lock held)."""
        message = resp.response
        assertion = resp.assertion
        # pysaml2 accepts a response without Destination; a signed one must have it.
        if message.destination != self.acs_url and (message.destination or message.signature):
            raise Refused(f"Destination {message.destination!r} is not {self.acs_url!r}")
        if assertion is None:
            # pysaml2 returns the response unverified (no assertion taken) when its
            # own Destination, IssueInstant or Status check fails.
            raise Refused("pysaml2 took no assertion from the response (IssueInstant or Status?)")
        issuer = (assertion.issuer.text or "").strip() if assertion.issuer else ""
        if issuer != self.idp:
            raise Refused(f"assertion issuer {issuer!r} is not the IdP {self.idp!r}")
        if message.issuer is not None and (message.issuer.text or "").strip() != self.idp:
            raise Refused(f"response issuer {message.issuer.text!r} is not the IdP")
        # pysaml2 accepts an assertion without AudienceRestriction.
        audiences = [
            (a.text or "").strip()
            for r in (assertion.conditions.audience_restriction if assertion.conditions else [])
            for a in r.audience
        ]
        if self.client.config.entityid not in audiences:
            raise Refused(f"audience {audiences!r} does not name {self.client.config.entityid!r}")
        # Also checked here in case pysaml2's own check (see conv_info) goes away.
        bearer = [
            sc for sc in assertion.subject.subject_confirmation if sc.method == SCM_BEARER
        ]
        recipients = [
            sc.subject_confirmation_data.recipient if sc.subject_confirmation_data else None
            for sc in bearer
        ]
        if self.acs_url not in recipients:
            raise Refused(f"no bearer SubjectConfirmation for Recipient {self.acs_url!r}: {recipients!r}")
        # allow_unsolicited lets pysaml2 take any InResponseTo: match it here.
        answered = {message.in_response_to} | {
            sc.subject_confirmation_data.in_response_to
            for sc in bearer
            if sc.subject_confirmation_data is not None
        }
        answered.discard(None)
        answered.discard("")
        if len(answered) > 1:
            raise Refused(f"InResponseTo values differ: {sorted(answered)!r}")
        if answered:
            (reqid,) = answered
            if reqid not in self.pending_authn:
                raise Refused(f"InResponseTo {reqid!r} answers no outstanding AuthnRequest")
            expected_relay, _ = self.pending_authn[reqid]
            if (expected_relay or None) != (relay or None):
                raise Refused(f"RelayState {relay!r} is not the {expected_relay!r} sent")
            flow = "sp-initiated"
        else:
            if self.refuse_unsolicited:
                raise Refused("unsolicited response (no InResponseTo) refused")
            reqid = None
            flow = "idp-initiated"
        for seen in (message.id, assertion.id):
            if seen in self.seen_ids:
                raise Refused(f"ID {seen!r} was already consumed (replay)")
        self.seen_ids.update((message.id, assertion.id))
        if reqid is not None:
            del self.pending_authn[reqid]

        attributes = []
        for statement in assertion.attribute_statement:
            for attribute in statement.attribute:
                for value in attribute.attribute_value:
                    attributes.append((attribute.name, attribute.friendly_name, value.text or ""))
        authn = assertion.authn_statement[0] if assertion.authn_statement else None
        context = ""
        if authn is not None and authn.authn_context and authn.authn_context.authn_context_class_ref:
            context = (authn.authn_context.authn_context_class_ref.text or "").strip()
        session = {
            "name_id": resp.name_id,
            "issuer": issuer,
            "flow": flow,
            "relay": relay,
            "session_index": authn.session_index if authn is not None else None,
            "authn_context": context,
            "attributes": attributes,
        }
        sid = secrets.token_urlsafe(24)
        self.sessions[sid] = session
        return sid, session

    # -- SLO --

    def start_logout(self, sid):
        if not self.signs:
            raise Refused("single logout needs the SP key (--key-dir)")
        with self.lock:
            session = self.sessions.get(sid)
            if session is None:
                return None
            slo = self.client.metadata.single_logout_service(self.idp, BINDING_HTTP_REDIRECT, "idpsso")
            if not slo:
                raise Refused("the IdP has no HTTP-Redirect SingleLogoutService")
            destination = slo[0]["location"]
            reqid, request = self.client.create_logout_request(
                destination, self.idp, name_id=session["name_id"],
                session_indexes=[session["session_index"]] if session["session_index"] else None,
                sign=False,
            )
            self.pending_logout[reqid] = (None, time.monotonic())
            info = self.client.apply_binding(
                BINDING_HTTP_REDIRECT, str(request), destination, "", sign=True, sigalg=SIG_RSA_SHA256
            )
        return dict(info["headers"])["Location"]

    def verify_redirect_signature(self, raw_query, kind):
        """Checks the Redirect-binding signature over the query's raw bytes."""
        raw = {}
        for piece in raw_query.split("&"):
            name, _, value = piece.partition("=")
            name = urllib.parse.unquote_plus(name)
            if name in raw:
                raise Refused(f"{name} appears twice in the query")
            raw[name] = value
        if "Signature" not in raw or "SigAlg" not in raw:
            raise Refused(f"the {kind} is not signed (no Signature/SigAlg in the query)")
        signed = f"{kind}={raw[kind]}"
        if "RelayState" in raw:
            signed += f"&RelayState={raw['RelayState']}"
        signed += f"&SigAlg={raw['SigAlg']}"
        sigalg = urllib.parse.unquote_plus(raw["SigAlg"])
        if sigalg not in REDIRECT_SIG_HASHES:
            raise Refused(f"SigAlg {sigalg!r} not accepted")
        try:
            signature = base64.b64decode(urllib.parse.unquote_plus(raw["Signature"]), validate=True)
        except ValueError as e:
            raise Refused(f"Signature is not base64: {e}") from e
        for cert in self.idp_certs:
            try:
                cert.public_key().verify(
                    signature, signed.encode("ascii"), padding.PKCS1v15(), REDIRECT_SIG_HASHES[sigalg]()
                )
                return
            except (InvalidSignature, TypeError, ValueError):
                continue
        raise Refused(f"the {kind} signature does not verify with the IdP's certificate")

    def logout_response(self, value, raw_query):
        """A LogoutResponse answering our LogoutRequest."""
        self.verify_redirect_signature(raw_query, "SAMLResponse")
        with self.lock:
            self._expire()
            try:
                resp = self.client.parse_logout_request_response(value, BINDING_HTTP_REDIRECT)
            except Exception as e:  # noqa: BLE001
                raise Refused(f"pysaml2: {type(e).__name__}: {e}") from e
            if resp is None:
                raise Refused("pysaml2: the LogoutResponse could not be read")
            message = resp.response
            if (message.issuer.text if message.issuer else None) != self.idp:
                raise Refused("LogoutResponse issuer is not the IdP")
            if message.destination != self.slo_url:
                raise Refused(f"Destination {message.destination!r} is not {self.slo_url!r}")
            if message.in_response_to not in self.pending_logout:
                raise Refused(f"InResponseTo {message.in_response_to!r} answers no outstanding LogoutRequest")
            del self.pending_logout[message.in_response_to]
            status = message.status.status_code.value if message.status else None
            if status != STATUS_SUCCESS:
                raise Refused(f"logout status {status!r}")

    def logout_request(self, value, relay, raw_query):
        """A LogoutRequest from the IdP: ends the sessions, returns the answer's URL."""
        self.verify_redirect_signature(raw_query, "SAMLRequest")
        with self.lock:
            try:
                req = self.client.parse_logout_request(value, BINDING_HTTP_REDIRECT)
            except Exception as e:  # noqa: BLE001
                raise Refused(f"pysaml2: {type(e).__name__}: {e}") from e
            if req is None:
                raise Refused("pysaml2: the LogoutRequest could not be read")
            message = req.message
            if (message.issuer.text if message.issuer else None) != self.idp:
                raise Refused("LogoutRequest issuer is not the IdP")
            if message.destination != self.slo_url:
                raise Refused(f"Destination {message.destination!r} is not {self.slo_url!r}")
            if message.name_id is None:
                raise Refused("LogoutRequest without NameID")
            ended = [
                sid for sid, s in self.sessions.items()
                if s["name_id"].text == message.name_id.text and s["issuer"] == self.idp
            ]
            for sid in ended:
                del self.sessions[sid]
            response = self.client.create_logout_response(message, [BINDING_HTTP_REDIRECT], sign=False)
            info = self.client.apply_binding(
                BINDING_HTTP_REDIRECT, str(response), response.destination, relay or "",
                response=True, sign=self.signs, sigalg=SIG_RSA_SHA256,
            )
        return dict(info["headers"])["Location"], len(ended)

    def _expire(self):
        now = time.monotonic()
        for pending in (self.pending_authn, self.pending_logout):
            for key in [k for k, (_, since) in pending.items() if now - since > PENDING_TTL]:
                del pending[key]


# --- HTTP -------------------------------------------------------------------------


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def page(title, body):
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)} - test SP</title>"
        # Names shown by CSS only, so that an li's text is just the value.
        "<style>li[data-attr]::before{content:attr(data-attr) \": \";color:#666}</style>"
        f"</head><body>\n{body}\n</body></html>\n"
    )


def session_body(session, heading="Signed in"):
    name_id = session["name_id"]
    rows = [
        ("NameID", "nameid", name_id.text),
        ("NameID format", "nameid-format", name_id.format),
        ("Issuer", "issuer", session["issuer"]),
        ("Flow", "flow", session["flow"]),
        ("RelayState", "relaystate", session["relay"]),
        ("SessionIndex", "session-index", session["session_index"]),
        ("AuthnContextClassRef", "authn-context", session["authn_context"]),
    ]
    items = "\n".join(f"<dt>{esc(label)}</dt><dd id=\"{ident}\">{esc(value)}</dd>" for label, ident, value in rows)
    attrs = "\n".join(
        f"<li data-attr=\"{esc(name)}\""
        + (f" data-friendly-name=\"{esc(friendly)}\"" if friendly else "")
        + f">{esc(value)}</li>"
        for name, friendly, value in session["attributes"]
    )
    return (
        f"<h1 id=\"status\">{esc(heading)}</h1>\n<dl>\n{items}\n</dl>\n"
        f"<h2>Attributes</h2>\n<ul id=\"attributes\">\n{attrs}\n</ul>\n"
        "<p><a id=\"logout\" href=\"/logout\">Sign out</a> <a id=\"home\" href=\"/\">Home</a></p>"
    )


def refused_body(reason):
    return (
        "<h1 id=\"status\">Refused</h1>\n"
        f"<pre id=\"error\">{esc(reason)}</pre>\n<p><a id=\"home\" href=\"/\">Home</a></p>"
    )


def make_handler(sp):
    class Handler(BaseHTTPRequestHandler):
        server_version = "idforge-test-sp"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("test-sp: %s %s\n" % (self.address_string(), fmt % args))

        def send(self, status, body, content_type="text/html; charset=utf-8", headers=()):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def redirect(self, location, headers=()):
            self.send(302, page("Redirect", f"<p><a href=\"{esc(location)}\">Continue</a></p>"),
                      headers=[("Location", location), *headers])

        def refuse(self, reason, status=403):
            sys.stderr.write(f"test-sp: refused {self.command} {self.path.split('?')[0]}: {reason}\n")
            self.send(status, page("Refused", refused_body(reason)))

        def session_id(self):
            cookies = http.cookies.SimpleCookie()
            try:
                cookies.load(self.headers.get("Cookie", ""))
            except http.cookies.CookieError:
                return None
            morsel = cookies.get(COOKIE)
            return morsel.value if morsel else None

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)

            def arg(name):
                values = query.get(name)
                return values[0] if values else None

            try:
                if url.path == "/healthz":
                    self.send(200, "ok\n", "text/plain; charset=utf-8")
                elif url.path == "/":
                    sid = self.session_id()
                    with sp.lock:
                        session = sp.sessions.get(sid) if sid else None
                    if session is None:
                        body = ("<h1 id=\"status\">Not signed in</h1>\n"
                                "<p><a id=\"login\" href=\"/login\">Sign in</a></p>")
                    else:
                        body = session_body(session)
                    self.send(200, page("Home", body))
                elif url.path == "/login":
                    truthy = ("1", "true", "yes")
                    _, how = sp.start_login(
                        arg("relay"), arg("binding") == "post",
                        arg("force") in truthy, arg("passive") in truthy,
                    )
                    if how[0] == "redirect":
                        self.redirect(how[1])
                    else:
                        _, destination, value = how
                        relay = arg("relay")
                        relay_input = (f"<input type=\"hidden\" name=\"RelayState\" value=\"{esc(relay)}\">"
                                       if relay else "")
                        body = (
                            f"<form id=\"authn\" method=\"post\" action=\"{esc(destination)}\">"
                            f"<input type=\"hidden\" name=\"SAMLRequest\" value=\"{esc(value)}\">{relay_input}"
                            "<noscript><button type=\"submit\">Continue</button></noscript></form>"
                            "<script>document.getElementById('authn').submit()</script>"
                        )
                        self.send(200, page("Sign in", body))
                elif url.path == "/logout":
                    sid = self.session_id()
                    location = sp.start_logout(sid) if sid else None
                    if location is None:
                        self.send(200, page("Home", "<h1 id=\"status\">Not signed in</h1>\n"
                                            "<p><a id=\"login\" href=\"/login\">Sign in</a></p>"))
                    else:
                        self.redirect(location)
                elif url.path == "/slo":
                    if arg("SAMLResponse"):
                        sp.logout_response(arg("SAMLResponse"), url.query)
                        sid = self.session_id()
                        with sp.lock:
                            if sid:
                                sp.sessions.pop(sid, None)
                        self.send(200, page("Signed out", "<h1 id=\"status\">Signed out</h1>\n"
                                            "<p><a id=\"home\" href=\"/\">Home</a></p>"),
                                  headers=[("Set-Cookie", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")])
                    elif arg("SAMLRequest"):
                        location, _ = sp.logout_request(arg("SAMLRequest"), arg("RelayState"), url.query)
                        self.redirect(location)
                    else:
                        self.refuse("no SAMLRequest or SAMLResponse", 400)
                else:
                    self.send(404, page("Not found", "<h1 id=\"status\">Not found</h1>"))
            except Refused as e:
                self.refuse(str(e))

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/acs":
                self.send(404, page("Not found", "<h1 id=\"status\">Not found</h1>"))
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.refuse("request body too large", 413)
                return
            form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            value = (form.get("SAMLResponse") or [None])[0]
            relay = (form.get("RelayState") or [None])[0]
            if not value:
                self.refuse("no SAMLResponse in the form", 400)
                return
            try:
                sid, session = sp.consume(value, relay, self.client_address[0])
            except Refused as e:
                self.refuse(str(e))
                return
            self.send(200, page("Signed in", session_body(session)),
                      headers=[("Set-Cookie", f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax")])

    return Handler


# --- commands ---------------------------------------------------------------------


def common_options(p):
    p.add_argument("--key-dir", help="the SP's key and certificate (created when missing)")
    p.add_argument("--sign-authn-requests", action="store_true",
                   help="sign AuthnRequests (needs --key-dir); the metadata says AuthnRequestsSigned")
    p.add_argument("--name-id-format", choices=sorted(NAME_ID_FORMATS),
                   help="the NameIDFormat in the metadata and the AuthnRequest's NameIDPolicy")
    p.add_argument("--clock-skew", type=int, default=5, help="seconds of clock skew accepted (default 5)")


def cmd_metadata(args):
    descriptor = entity_descriptor(sp_config(args))
    # pysaml2 lists every algorithm xmlsec1 knows (MD5, DSA, ...) as algsupport
    # extensions; an IdP choosing from that list should not see them.
    descriptor.extensions = None
    valid_instance(descriptor)
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + descriptor.to_string().decode("utf-8") + "\n"
    tmp = f"{args.out}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(xml)
    os.replace(tmp, args.out)


def cmd_serve(args):
    if args.base is None:
        args.base = f"http://127.0.0.1:{args.port}"
    # Until serving, SIGTERM keeps its default action (exit at once).
    idp_metadata = fetch_idp_metadata(args.idp_metadata_url, args.metadata_wait)
    sp = TestSP(args, idp_metadata)
    try:
        server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(sp))
    except OSError as e:
        sys.exit(f"test-sp: cannot listen on 127.0.0.1:{args.port}: {e}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    print(f"test-sp listening on {sp.base}", flush=True)

    parent = os.getppid()
    deadline = time.monotonic() + args.max_seconds
    reason = "stopped"
    while not stop.wait(0.5):
        if os.getppid() != parent:
            reason = "parent process gone"
            break
        if time.monotonic() >= deadline:
            reason = f"--max-seconds {args.max_seconds} reached"
            break
    server.shutdown()
    server.server_close()
    print(f"test-sp: {reason}, exiting", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description="pysaml2 service provider for the browser tests")
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("metadata", help="write the SP's metadata and exit")
    m.add_argument("--base", required=True, help="the SP's base URL, e.g. http://127.0.0.1:8000")
    m.add_argument("--out", required=True, help="where to write the metadata XML")
    common_options(m)
    s = commands.add_parser("serve", help="serve the SP on 127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--base", help="the SP's base URL (default http://127.0.0.1:PORT)")
    s.add_argument("--idp-metadata-url", required=True, help="where to fetch the IdP's metadata (http: or file:)")
    s.add_argument("--metadata-wait", type=float, default=30, help="seconds to retry the metadata URL (default 30)")
    s.add_argument("--refuse-unsolicited", action="store_true",
                   help="refuse responses without InResponseTo (IdP-initiated)")
    s.add_argument("--max-seconds", type=float, default=600, help="exit after this long (default 600)")
    common_options(s)
    args = parser.parse_args()
    if args.sign_authn_requests and not args.key_dir:
        parser.error("--sign-authn-requests needs --key-dir")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="test-sp: %(name)s: %(message)s")
    # pysaml2 logs each refusal with a traceback; the handler logs the reason instead.
    logging.getLogger("saml2").setLevel(logging.CRITICAL)
    if args.command == "metadata":
        cmd_metadata(args)
    else:
        cmd_serve(args)


if __name__ == "__main__":
    main()
