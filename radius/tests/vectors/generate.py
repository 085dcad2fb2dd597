"""Independent Python computation of the known answers in crypto.txt, mschap.txt and mppe.txt.

Uses hashlib, hmac and pycryptodome (MD4, DES); shares no code with the Rust crate.
Run: python generate.py > generated.txt and compare by hand with the committed files.
"""
import hashlib
import hmac
from Crypto.Cipher import DES
from Crypto.Hash import MD4


def md4(b):
    return MD4.new(b).digest()


def des_key(seven):
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def challenge_response(challenge, pwhash):
    z = pwhash + bytes(5)
    return b"".join(DES.new(des_key(z[i:i + 7]), DES.MODE_ECB).encrypt(challenge) for i in (0, 7, 14))


def challenge_hash(peer, auth, user):
    return hashlib.sha1(peer + auth + user).digest()[:8]


def auth_response(pwhash, nt, peer, auth, user):
    m1 = b"Magic server to client signing constant"
    m2 = b"Pad to make it do more than one iteration"
    d = hashlib.sha1(md4(pwhash) + nt + m1).digest()
    d = hashlib.sha1(d + challenge_hash(peer, auth, user) + m2).digest()
    return "S=" + d.hex().upper()


def line(k, v):
    print(f"{k} = {v.hex() if isinstance(v, bytes) else v}")


secret = b"xyzzy5461"

# RFC 2759 section 9.
user, pw = b"User", "clientPass"
auth = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
peer = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
h = md4(pw.encode("utf-16-le"))
nt = challenge_response(challenge_hash(peer, auth, user), h)
print("# mschap.txt")
line("v2_user_name", user)
line("v2_password", pw.encode())
line("v2_authenticator_challenge", auth)
line("v2_peer_challenge", peer)
line("v2_challenge", challenge_hash(peer, auth, user))
line("v2_password_hash", h)
line("v2_nt_response", nt)
line("v2_password_hash_hash", md4(h))
line("v2_authenticator_response", auth_response(h, nt, peer, auth, user).encode())
ch1 = bytes.fromhex("102DB5DF085D3041")
line("v1_challenge", ch1)
line("v1_password", b"MyPw")
line("v1_nt_response", challenge_response(ch1, md4("MyPw".encode("utf-16-le"))))

print("# crypto.txt")
ra = bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")
line("chap_ident", bytes([0x16]))
line("chap_password", b"flopsy")
line("chap_challenge", ra)
line("chap_response", hashlib.md5(bytes([0x16]) + b"flopsy" + ra).digest())

# User-Password hiding of a 40-byte password (three blocks).
p = b"correct horse battery staple, 40 bytes!!"
assert len(p) == 40
padded = p + bytes(48 - len(p))
out, prev = b"", ra
for i in range(0, 48, 16):
    c = bytes(a ^ b for a, b in zip(padded[i:i + 16], hashlib.md5(secret + prev).digest()))
    out += c
    prev = c
line("pap_long_password", p)
line("pap_long_hidden", out)

# Tunnel-Password, RFC 2868 section 3.5, salt 0x8123.
salt = bytes([0x81, 0x23])
tp = b"tunnel-secret"
plain = bytes([len(tp)]) + tp
plain += bytes(-len(plain) % 16)
out, prev = b"", ra + salt
for i in range(0, len(plain), 16):
    c = bytes(a ^ b for a, b in zip(plain[i:i + 16], hashlib.md5(secret + prev).digest()))
    out += c
    prev = c
line("tunnel_password", tp)
line("tunnel_salt", salt)
line("tunnel_hidden", salt + out)

# Accounting-Request (RFC 2866 section 3): Acct-Status-Type Start, Acct-Session-Id "abc".
attrs = bytes([40, 6, 0, 0, 0, 1, 44, 5]) + b"abc"
hdr = bytes([4, 7]) + (20 + len(attrs)).to_bytes(2, "big")
acct_auth = hashlib.md5(hdr + bytes(16) + attrs + secret).digest()
line("accounting_request", hdr + acct_auth + attrs)

# Message-Authenticator on a response: Access-Accept to the RFC 2865 7.1 request, MA first.
attrs = bytes([80, 18]) + bytes(16) + bytes([18, 7]) + b"hello"
hdr = bytes([2, 0]) + (20 + len(attrs)).to_bytes(2, "big")
ma = hmac.new(secret, hdr + ra + attrs, hashlib.md5).digest()
attrs = bytes([80, 18]) + ma + bytes([18, 7]) + b"hello"
resp_auth = hashlib.md5(hdr + ra + attrs + secret).digest()
line("accept_with_message_authenticator", hdr + resp_auth + attrs)

print("# mppe.txt")
# RFC 3079 section 3.4 key derivation on the RFC 2759 section 9.2 values above.
MAGIC1 = b"This is the MPPE Master Key"
MAGIC2 = b"On the client side, this is the send key; on the server side, it is the receive key."
MAGIC3 = b"On the client side, this is the receive key; on the server side, it is the send key."
master = hashlib.sha1(md4(h) + nt + MAGIC1).digest()[:16]
send = hashlib.sha1(master + bytes(40) + MAGIC3 + b"\xf2" * 40).digest()[:16]
recv = hashlib.sha1(master + bytes(40) + MAGIC2 + b"\xf2" * 40).digest()[:16]
line("master_key", master)
line("send_start_key", send)
line("recv_start_key", recv)
line("ms_chap2_success", bytes([7]) + auth_response(h, nt, peer, auth, user).encode())
line("ms_chap_error", bytes([7]) + b"E=691 R=0 C=" + auth.hex().upper().encode() + b" V=3")


def salt_hide(plain, salt):
    out, prev = b"", ra + salt
    for i in range(0, len(plain), 16):
        c = bytes(a ^ b for a, b in zip(plain[i:i + 16], hashlib.md5(secret + prev).digest()))
        out += c
        prev = c
    return salt + out


# RFC 2548 sections 2.4.2-2.4.3 with secret "xyzzy5461" and the RFC 2865 7.1 authenticator.
line("send_salt", bytes([0x80, 0x01]))
line("recv_salt", bytes([0x80, 0x02]))
line("ms_mppe_send_key", salt_hide(bytes([16]) + send + bytes(15), bytes([0x80, 0x01])))
line("ms_mppe_recv_key", salt_hide(bytes([16]) + recv + bytes(15), bytes([0x80, 0x02])))


# RFC 2548 section 2.4.1: MS-CHAP-MPPE-Keys for RFC 2433's "MyPw", hidden like User-Password.
def lm_hash(pw):
    p = pw.upper().encode()[:14].ljust(14, b"\0")
    return b"".join(DES.new(des_key(p[i:i + 7]), DES.MODE_ECB).encrypt(b"KGS!@#$%") for i in (0, 7))


lm = lm_hash("MyPw")
nthh = md4(md4("MyPw".encode("utf-16-le")))
plain = lm[:8] + nthh + bytes(8)
out, prev = b"", ra
for i in range(0, 32, 16):
    c = bytes(a ^ b for a, b in zip(plain[i:i + 16], hashlib.md5(secret + prev).digest()))
    out += c
    prev = c
line("v1_lm_password_hash", lm)
line("v1_nt_key", nthh)
line("ms_chap_mppe_keys", out)
