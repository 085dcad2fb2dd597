"""pyrad as an independent RADIUS client of the idforge test server.

Usage: pyrad_client.py PORT SECRET DICTIONARY. Prints one line per exchange:
"<case> <reply code>" (or "<case> timeout").
"""
import hashlib
import os
import sys

import pyrad.packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

port, secret, dictionary = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]


def client(enforce_ma=True):
    # enforce_ma: answers to Access-Request and Status-Server must carry Message-Authenticator.
    return Client(server="127.0.0.1", authport=port, acctport=port, secret=secret,
                  dict=Dictionary(dictionary), retries=2, timeout=1, enforce_ma=enforce_ma)


def run(case, make, send):
    try:
        reply = send(make())
        print(case, reply.code, flush=True)
    except Timeout:
        print(case, "timeout", flush=True)


def pap(user, password, message_authenticator=True):
    def make():
        c = client()
        req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user,
                                 message_authenticator=message_authenticator)
        req["User-Password"] = req.PwCrypt(password)
        return c, req
    return make


def chap(user, password):
    def make():
        c = client()
        req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user)
        req.authenticator = os.urandom(16)
        ident = b"\x07"
        req["CHAP-Password"] = ident + hashlib.md5(ident + password + req.authenticator).digest()
        return c, req
    return make


def send(pair):
    c, req = pair
    return c.SendPacket(req)


run("pap-accept", pap("bob", "hello"), send)
run("pap-reject", pap("bob", "nope"), send)
run("pap-no-ma", pap("bob", "hello", message_authenticator=False), send)
run("chap-accept", chap("carol", b"chappy"), send)
run("chap-reject", chap("carol", b"chappx"), send)


def status():
    c = client()
    return c, c.CreateAuthPacket(code=pyrad.packet.StatusServer)


run("status", status, send)


def acct():
    c = client()
    req = c.CreateAcctPacket(User_Name="bob")
    req["Acct-Status-Type"] = "Start"
    req["Acct-Session-Id"] = "py-1"
    return c, req


run("acct", acct, send)
