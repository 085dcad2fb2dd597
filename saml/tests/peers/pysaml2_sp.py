"""A pysaml2 service provider driven by the interop tests.

Usage: pysaml2_sp.py COMMAND < request.json > answer.json

The request carries `idp_metadata` (a file path), `sp_entity_id`, `acs_url`,
`idp_entity_id` and, per command:
- `sp-metadata`: prints the SP's metadata XML.
- `authn-request`: prints {"id": ..., "query": ...}, an AuthnRequest for the
  HTTP-Redirect binding, or with `"binding": "post"` {"id": ..., "saml_request": ...};
  signed with `sp_key`/`sp_cert` (RSA-SHA256, or `"sigalg": "sha1"`) when `"sign"`.
- `consume`: `cases`, each {"name", "response", "outstanding" (request id or null),
  "allow_unsolicited"}; prints one result per case: {"name", "ok", "name_id",
  "attributes"} or {"name", "ok": false, "error"}.
- `logout-request`: prints {"id", "query"}, a LogoutRequest for `name_id` (persistent)
  and `session_index` sent to the IdP's Redirect SingleLogoutService, signed.
- `logout-response`: parses `logout_response` (HTTP-POST value); prints {"ok", ...}.
- `idp-logout-request`: parses `logout_request` (HTTP-POST value) from the IdP; prints
  {"ok", "name_id", "session_indexes"} or {"ok": false, "error"}.
"""
import html
import json
import re
import sys

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256


def client(req, allow_unsolicited):
    conf = {
        "entityid": req["sp_entity_id"],
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(req["acs_url"], BINDING_HTTP_POST)],
                    "single_logout_service": [(req["acs_url"] + "/slo", BINDING_HTTP_POST)],
                },
                "allow_unsolicited": allow_unsolicited,
                "authn_requests_signed": bool(req.get("sign")),
                "want_assertions_signed": True,
                "want_response_signed": False,
            }
        },
        "metadata": {"local": [req["idp_metadata"]]},
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "accepted_time_diff": 5,
    }
    if req.get("sp_key"):
        conf["key_file"] = req["sp_key"]
        conf["cert_file"] = req["sp_cert"]
    config = SPConfig()
    config.load(conf)
    return Saml2Client(config=config)


def main():
    command = sys.argv[1]
    req = json.load(sys.stdin)
    if command == "sp-metadata":
        cl = client(req, False)
        sys.stdout.write(create_metadata_string(None, config=cl.config).decode())
    elif command == "authn-request":
        cl = client(req, False)
        post = req.get("binding") == "post"
        sha1 = req.get("sigalg") == "sha1"
        reqid, info = cl.prepare_for_authenticate(
            entityid=req["idp_entity_id"],
            relay_state=req.get("relay_state", ""),
            binding=BINDING_HTTP_POST if post else BINDING_HTTP_REDIRECT,
            sign=bool(req.get("sign")),
            sigalg=SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA1 if sha1 else DIGEST_SHA256,
        )
        if post:
            form = info["data"]
            value = re.search(r'name="SAMLRequest" value="([^"]*)"', form).group(1)
            json.dump({"id": reqid, "saml_request": html.unescape(value)}, sys.stdout)
        else:
            location = dict(info["headers"])["Location"]
            json.dump({"id": reqid, "query": location.split("?", 1)[1]}, sys.stdout)
    elif command == "consume":
        results = []
        for case in req["cases"]:
            cl = client(req, case["allow_unsolicited"])
            outstanding = {case["outstanding"]: "/"} if case["outstanding"] else {}
            try:
                resp = cl.parse_authn_request_response(
                    case["response"], BINDING_HTTP_POST, outstanding
                )
                if resp is None:
                    raise ValueError("no response")
                results.append(
                    {
                        "name": case["name"],
                        "ok": True,
                        "name_id": resp.name_id.text,
                        "name_id_format": resp.name_id.format,
                        "attributes": resp.ava,
                    }
                )
            except Exception as e:  # noqa: BLE001 - every refusal is a result
                results.append(
                    {"name": case["name"], "ok": False, "error": f"{type(e).__name__}: {e}"}
                )
        json.dump(results, sys.stdout)
    elif command == "logout-request":
        cl = client(req, False)
        slo = cl.metadata.single_logout_service(req["idp_entity_id"], BINDING_HTTP_REDIRECT, "idpsso")
        destination = slo[0]["location"]
        reqid, lreq = cl.create_logout_request(
            destination,
            req["idp_entity_id"],
            name_id=NameID(text=req["name_id"], format=NAMEID_FORMAT_PERSISTENT),
            session_indexes=[req["session_index"]],
        )
        info = cl.apply_binding(
            BINDING_HTTP_REDIRECT, str(lreq), destination, "rs", sign=True, sigalg=SIG_RSA_SHA256
        )
        location = dict(info["headers"])["Location"]
        json.dump({"id": reqid, "query": location.split("?", 1)[1]}, sys.stdout)
    elif command == "logout-response":
        cl = client(req, False)
        try:
            resp = cl.parse_logout_request_response(req["logout_response"], BINDING_HTTP_POST)
            json.dump(
                {
                    "ok": resp is not None and resp.status_ok(),
                    "in_response_to": resp.in_response_to if resp else None,
                },
                sys.stdout,
            )
        except Exception as e:  # noqa: BLE001 - a refusal is a result
            json.dump({"ok": False, "error": f"{type(e).__name__}: {e}"}, sys.stdout)
    elif command == "idp-logout-request":
        cl = client(req, False)
        try:
            lreq = cl.parse_logout_request(req["logout_request"], BINDING_HTTP_POST)
            msg = lreq.message
            json.dump(
                {
                    "ok": True,
                    "name_id": msg.name_id.text,
                    "session_indexes": [s.text for s in msg.session_index],
                },
                sys.stdout,
            )
        except Exception as e:  # noqa: BLE001 - a refusal is a result
            json.dump({"ok": False, "error": f"{type(e).__name__}: {e}"}, sys.stdout)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
