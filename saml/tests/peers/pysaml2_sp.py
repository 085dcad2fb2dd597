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
"""
import html
import json
import re
import sys

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
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
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
