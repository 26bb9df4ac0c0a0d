#!/usr/bin/env python3
"""Builds the SBP/RPC corpus of `sbrp decode` (sbp-session.hex, sbp.keylog, sbp.har).

    python3 tests/data/decode/make_sbp_corpus.py

Every SBP frame is assembled here byte by byte from the wire format (kind, flags, frame id,
optional i64 LE timestamp, body; docs/protocols/sbp/wire-format.md), independently of the Rust
codec, then sealed as an SBRP Data frame with ChaCha20-Poly1305 (Python `cryptography`)
under the fixed keys of sbp.keylog. Session 1 speaks SBP and RPC and breaks a rule on
purpose in the frames marked BAD; session 2 carries bare bytes (an SBRP-only peer, R13).
sbp.har holds the same traffic as a Chrome HAR export: socket 1 is session 1 (the browser is
the client: `send` = client_to_daemon), socket 2 is session 2 plus a text message.
"""
import base64, json, struct
from pathlib import Path
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

OUT = Path(__file__).resolve().parent
KEYS = {  # (sid, direction) -> key; direction 1 client_to_daemon, 2 daemon_to_client
    (1, 1): bytes(range(0x00, 0x20)), (1, 2): bytes(range(0x20, 0x40)),
    (2, 1): bytes(range(0x40, 0x60)), (2, 2): bytes(range(0x60, 0x80)),
}

def fid(n):
    return bytes([n]) * 16

def sbp(kind, frame_id, body, ts=None, flags=None):
    f = (1 if ts is not None else 0) if flags is None else flags
    out = bytes([kind, f]) + frame_id
    if ts is not None:
        out += struct.pack('<q', ts)
    return out + body

def control(frame_id, op, data=b'', ts=None):
    return sbp(0, frame_id, bytes([op]) + data, ts)

def message(frame_id, subject, data, ts=None, flags=None):
    s = subject.encode()
    return sbp(1, frame_id, struct.pack('<I', len(s)) + s + data, ts, flags)

def j(obj):
    return json.dumps(obj, separators=(',', ':')).encode()

def handshake(frame_id, peer, caps):
    return control(frame_id, 0, j({"protocol": "sideband", "version": "1", "peerId": peer, "caps": caps}))

def data_frame(sid, direction, seq, plaintext):
    nonce = struct.pack('>IQ', direction, seq)
    sealed = ChaCha20Poly1305(KEYS[(sid, direction)]).encrypt(nonce, plaintext, b'')
    payload = nonce + sealed
    return bytes([0x03]) + struct.pack('>IQ', len(payload), sid) + payload

C, D = 1, 2
T0 = 1764620000000  # ms
# (direction, capture time offset in ms, comment, plaintext) for session 1
s1 = [
    (C, 0, "BAD client Ping before its Handshake (ProtocolViolation)", control(fid(0x01), 1)),
    (C, 3, "client Handshake", handshake(fid(0x02), "browser-7f3a", ["rpc"])),
    (D, 41, "daemon Handshake, with a timestamp", control(fid(0x03), 0, j({"protocol": "sideband", "version": "1", "peerId": "daemon-001", "caps": ["rpc", "events"], "metadata": {"vendor:name": "example"}}), ts=T0 + 40)),
    (C, 50, "request $sideband/echo (cid = frame id)", message(fid(0x10), "rpc", j({"t": "r", "m": "$sideband/echo", "p": {"text": "hello"}, "cid": fid(0x10).hex()}), ts=T0 + 50)),
    (D, 62, "response to it", message(fid(0x11), "rpc", j({"t": "R", "cid": fid(0x10).hex(), "result": {"text": "hello"}}), ts=T0 + 61)),
    (C, 70, "request $sideband/info", message(fid(0x12), "rpc", j({"t": "r", "m": "$sideband/info", "cid": fid(0x12).hex()}))),
    (C, 71, "request of a method the daemon lacks", message(fid(0x13), "rpc", j({"t": "r", "m": "files.list", "p": ["/"], "cid": fid(0x13).hex()}))),
    (D, 90, "UnsupportedMethod for it", message(fid(0x14), "rpc", j({"t": "E", "cid": fid(0x13).hex(), "code": 1101, "message": "Method not found: files.list"}))),
    (D, 95, "notification on event", message(fid(0x15), "event", j({"t": "N", "e": "stats.tick", "d": {"cpu": 0.25}}))),
    (D, 96, "Ack of the info request frame", sbp(2, fid(0x16), fid(0x12))),
    (C, 97, "vendor message on app/…", message(fid(0x17), "app/acme/blob", b'\x00\x01\x02')),
    (C, 98, "BAD reserved flag bit 1 (InvalidFrame)", message(fid(0x18), "rpc", b'{}', flags=0x02)),
    (C, 99, "BAD reserved stream subject (UnsupportedFeature)", message(fid(0x19), "stream", b'{}')),
    (C, 100, "BAD request on the event subject (EnvelopeMismatch)", message(fid(0x1a), "event", j({"t": "r", "m": "x", "cid": fid(0x1a).hex()}))),
    (C, 101, "BAD uppercase cid (InvalidEnvelope)", message(fid(0x1b), "rpc", j({"t": "r", "m": "x", "cid": fid(0x1b).hex().upper()}))),
    (D, 102, "BAD response nobody asked for (CorrelationMismatch)", message(fid(0x1c), "rpc", j({"t": "R", "cid": fid(0x77).hex()}))),
    (D, 103, "BAD subject outside the namespace (ProtocolViolation)", message(fid(0x1d), "rpc/echo", b'{}')),
    (D, 104, "SBP Error frame", sbp(3, fid(0x1e), struct.pack('<HI', 1003, 14) + b'no compression')),
    (C, 110, "Close with a reason", control(fid(0x1f), 3, b'bye')),
]
s2 = [
    (C, 5, "bare bytes, not SBP", b'hello daemon'),
    (D, 9, "bare echo", b'hello daemon'),
]

def sealed(sid, items):
    seq = {C: 0, D: 0}
    out = []
    for d, t, comment, pt in items:
        out.append((d, t, comment, data_frame(sid, d, seq[d], pt)))
        seq[d] += 1
    return out

f1, f2 = sealed(1, s1), sealed(2, s2)
lines = [f"# session 1: {c}\n{fr.hex()}\n" for _, _, c, fr in f1]
lines += [f"# session 2: {c}\n{fr.hex()}\n" for _, _, c, fr in f2]
(OUT / "sbp-session.hex").write_text("".join(lines))
(OUT / "sbp.keylog").write_text("# fixed keys of the SBP corpus (make_sbp_corpus.py)\n" + "".join(
    f"{'CLIENT_TO_DAEMON' if d == 1 else 'DAEMON_TO_CLIENT'} {sid:016x} {k.hex()}\n"
    for (sid, d), k in sorted(KEYS.items())))

def ws(items, base):
    return [{"type": "send" if d == C else "receive", "time": (base + t) / 1000.0, "opcode": 2,
             "data": base64.b64encode(fr).decode()} for d, t, _, fr in items]

t2 = ws(f2, T0)
t2.insert(1, {"type": "send", "time": (T0 + 6) / 1000.0, "opcode": 1, "data": "{\"hello\":\"text\"}"})
har = {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
  "pages": [], "entries": [
    {"_resourceType": "document", "request": {"method": "GET", "url": "https://app.example/"}, "response": {"status": 200}},
    {"_resourceType": "websocket", "startedDateTime": "2025-12-01T20:13:20.000Z", "time": 120,
     "request": {"method": "GET", "url": "wss://relay.example/v1/connect?token=eyJhbGciOiJFZERTQSJ9.eyJzaWQiOiJBUUUifQ.c2ln&v=1"},
     "response": {"status": 101, "statusText": "Switching Protocols"}, "_webSocketMessages": ws(f1, T0)},
    {"_resourceType": "websocket", "startedDateTime": "2025-12-01T20:13:20.002Z", "time": 10,
     "request": {"method": "GET", "url": "wss://relay.example/v1/connect?token=secret-token-2"},
     "response": {"status": 101, "statusText": "Switching Protocols"}, "_webSocketMessages": t2},
  ]}}
(OUT / "sbp.har").write_text(json.dumps(har, indent=2) + "\n")
