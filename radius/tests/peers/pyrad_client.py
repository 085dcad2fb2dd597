"""pyrad as an independent RADIUS client of the idforge test server.

Usage: pyrad_client.py PORT SECRET DICTIONARY. Prints one line per exchange:
"<case> <reply code>" (or "<case> timeout"). The MS-CHAP cases also print "<check> ok" or
"<check> mismatch ..." for what this script recomputes on its own (MD4 and DES from
pycryptodome, SHA-1 and MD5 from hashlib): the authenticator response, the RFC 3079 MPPE keys
that pyrad decrypts from MS-MPPE-Send-Key and MS-MPPE-Recv-Key, MS-CHAP-Error, and the
MS-CHAPv1 keys of MS-CHAP-MPPE-Keys, decrypted here as RFC 2548 section 2.4.1 says.
"""
import hashlib
import os
import sys

from Crypto.Cipher import DES
from Crypto.Hash import MD4

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


# MS-CHAP, written from RFC 2433, 2548, 2759 and 3079.
def md4(b):
    return MD4.new(b).digest()


def nt_hash(pw):
    return md4(pw.encode("utf-16-le"))


def des7(seven, block):
    bits = int.from_bytes(seven, "big")
    key = bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))
    return DES.new(key, DES.MODE_ECB).encrypt(block)


def challenge_response(challenge, pwhash):
    z = pwhash + bytes(5)
    return b"".join(des7(z[i:i + 7], challenge) for i in (0, 7, 14))


def lm_hash(pw):
    p = pw.upper().encode()[:14].ljust(14, b"\0")
    return des7(p[:7], b"KGS!@#$%") + des7(p[7:], b"KGS!@#$%")


def check(name, got, expected):
    if got == expected:
        print(name, "ok", flush=True)
    else:
        print(name, "mismatch", got.hex() if isinstance(got, bytes) else got,
              expected.hex() if isinstance(expected, bytes) else expected, flush=True)


def ms_chap2(case, user, password, server_password):
    auth, peer = os.urandom(16), os.urandom(16)
    pwhash = nt_hash(password)
    chal = hashlib.sha1(peer + auth + user.encode()).digest()[:8]
    nt = challenge_response(chal, pwhash)
    c = client()
    req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user,
                             message_authenticator=True)
    req["MS-CHAP-Challenge"] = auth
    req["MS-CHAP2-Response"] = b"\x21\x00" + peer + bytes(8) + nt
    try:
        reply = c.SendPacket(req)
    except Timeout:
        print(case, "timeout", flush=True)
        return
    print(case, reply.code, flush=True)
    if reply.code != pyrad.packet.AccessAccept:
        error = reply["MS-CHAP-Error"][0]
        check(case + "-error", error,
              b"\x21E=691 R=0 C=" + auth.hex().upper().encode() + b" V=3")
        return
    spw = nt_hash(server_password)
    d = hashlib.sha1(md4(spw) + nt + b"Magic server to client signing constant").digest()
    d = hashlib.sha1(d + chal + b"Pad to make it do more than one iteration").digest()
    check(case + "-success", reply["MS-CHAP2-Success"][0],
          b"\x21S=" + d.hex().upper().encode())
    master = hashlib.sha1(md4(spw) + nt + b"This is the MPPE Master Key").digest()[:16]

    def start_key(magic):
        return hashlib.sha1(master + bytes(40) + magic + b"\xf2" * 40).digest()[:16]

    send = start_key(b"On the client side, this is the receive key; "
                     b"on the server side, it is the send key.")
    recv = start_key(b"On the client side, this is the send key; "
                     b"on the server side, it is the receive key.")
    # pyrad decrypted these with the secret and the Request Authenticator (encrypt=2).
    check(case + "-send-key", reply["MS-MPPE-Send-Key"][0], send)
    check(case + "-recv-key", reply["MS-MPPE-Recv-Key"][0], recv)
    # The raw values (before decryption) start with the salts: high bit set, distinct.
    salts = {bytes(v[:2]) for k in ((311, 16), (311, 17)) for v in reply.get(k, [])}
    check(case + "-salts", (len(salts), all(s[0] & 0x80 for s in salts)), (2, True))


def ms_chap1(case, user, password):
    challenge = os.urandom(8)
    pwhash = nt_hash(password)
    c = client()
    req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user,
                             message_authenticator=True)
    req["MS-CHAP-Challenge"] = challenge
    req["MS-CHAP-Response"] = b"\x05\x01" + bytes(24) + challenge_response(challenge, pwhash)
    try:
        reply = c.SendPacket(req)
    except Timeout:
        print(case, "timeout", flush=True)
        return
    print(case, reply.code, flush=True)
    if reply.code != pyrad.packet.AccessAccept:
        return
    hidden = reply["MS-CHAP-MPPE-Keys"][0]
    plain, prev = b"", req.authenticator
    for i in range(0, len(hidden), 16):
        block = hidden[i:i + 16]
        plain += bytes(a ^ b for a, b in zip(block, hashlib.md5(secret + prev).digest()))
        prev = block
    check(case + "-keys", plain, lm_hash(password)[:8] + md4(pwhash) + bytes(8))


ms_chap2("mschap2-accept", "bob", "hello", "hello")
ms_chap2("mschap2-reject", "bob", "hellx", "hello")
ms_chap1("mschap1-accept", "bob", "hello")
