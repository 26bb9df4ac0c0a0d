#!/usr/bin/env python3
"""Builds vectors.json: SBP v1 and RPC known answers, written from the wire-format spec by hand
(independently of the Rust codec). The values are those of the reference's own codec tests
(packages/protocol/src/codec.test.ts, packages/rpc/src/codec.test.ts), restated with fixed frame
ids so the bytes are known. Run from this directory: python3 make_vectors.py > vectors.json"""
import json, struct

def fid(n):  # a recognisable 16-byte frame id
    return bytes(range(n, n + 16))

def frame(kind, fid_, body, ts=None):
    flags = 1 if ts is not None else 0
    out = bytes([kind, flags]) + fid_
    if ts is not None:
        out += struct.pack('<q', ts)
    return out + body

def msg(subject, data):
    s = subject.encode()
    return struct.pack('<I', len(s)) + s + data

def err(code, message, details=b''):
    m = message.encode()
    return struct.pack('<HI', code, len(m)) + m + details

hs = json.dumps({"protocol": "sideband", "version": "1", "peerId": "peer-1",
                 "caps": ["rpc", "pubsub"]}, separators=(',', ':')).encode()
valid = [
    ("handshake", frame(0, fid(0x10), b'\x00' + hs), {"kind": "control", "op": "handshake", "peer_id": "peer-1", "caps": ["rpc", "pubsub"]}),
    ("ping", frame(0, fid(0x20), b'\x01'), {"kind": "control", "op": "ping"}),
    ("pong with timestamp", frame(0, fid(0x30), b'\x02', ts=1733011200123), {"kind": "control", "op": "pong", "timestamp": 1733011200123}),
    ("negative timestamp", frame(0, fid(0x31), b'\x01', ts=-1), {"kind": "control", "op": "ping", "timestamp": -1}),
    ("close with reason", frame(0, fid(0x40), b'\x03' + b'Going offline'), {"kind": "control", "op": "close", "reason": "Going offline"}),
    ("close without reason", frame(0, fid(0x41), b'\x03'), {"kind": "control", "op": "close", "reason": ""}),
    ("message rpc", frame(1, fid(0x50), msg("rpc", b'hello world')), {"kind": "message", "subject": "rpc", "data": "hello world"}),
    ("message event empty", frame(1, fid(0x60), msg("event", b'')), {"kind": "message", "subject": "event", "data": ""}),
    ("message stream", frame(1, fid(0x61), msg("stream", b'x')), {"kind": "message", "subject": "stream", "data": "x"}),
    ("message app path", frame(1, fid(0x62), msg("app/vendor/custom", b'{}')), {"kind": "message", "subject": "app/vendor/custom", "data": "{}"}),
    ("message emoji subject 244 bytes", frame(1, fid(0x63), msg("app/" + "\U0001F389" * 60, b'')), {"kind": "message", "subject": "app/" + "\U0001F389" * 60, "data": ""}),
    ("message subject 256 bytes", frame(1, fid(0x64), msg("app/" + "x" * 252, b'')), {"kind": "message", "subject": "app/" + "x" * 252, "data": ""}),
    ("ack", frame(2, fid(0x70), fid(0x80)), {"kind": "ack", "ack_id": fid(0x80).hex()}),
    ("error message only", frame(3, fid(0x90), err(1000, "Protocol error")), {"kind": "error", "code": 1000, "name": "ProtocolViolation", "message": "Protocol error", "details": ""}),
    ("error with details", frame(3, fid(0xa0), err(2000, "Application error", b'{"reason":"invalid input"}')), {"kind": "error", "code": 2000, "name": "ApplicationError", "message": "Application error", "details": '{"reason":"invalid input"}'}),
]

def corrupt_flags(b, v):
    b = bytearray(b); b[1] = v; return bytes(b)

invalid = [
    ("reserved flag bit 1", corrupt_flags(frame(0, fid(0x20), b'\x01'), 0x02), "InvalidFrame"),
    ("reserved flag bit 7 with timestamp bit", corrupt_flags(frame(0, fid(0x20), b'\x01' + bytes(8)), 0x81), "InvalidFrame"),
    ("too short", bytes([0, 0]) + bytes(10), "InvalidFrame"),
    ("timestamp bit without timestamp", bytes([0, 1]) + fid(0x20) + b'\x01\x02', "InvalidFrame"),
    ("unknown kind", frame(4, fid(0x20), b''), "InvalidFrame"),
    ("unknown control op", frame(0, fid(0x20), b'\x04'), "InvalidFrame"),
    ("control without op", frame(0, fid(0x20), b''), "InvalidFrame"),
    ("handshake without data", frame(0, fid(0x20), b'\x00'), "InvalidFrame"),
    ("ping with payload", frame(0, fid(0x20), b'\x01\x01\x02\x03'), "InvalidFrame"),
    ("pong with payload", frame(0, fid(0x20), b'\x02\x00'), "InvalidFrame"),
    ("message missing subject", frame(1, fid(0x20), b''), "InvalidFrame"),
    ("message incomplete subject", frame(1, fid(0x20), struct.pack('<I', 10) + b'\x01\x02\x03'), "InvalidFrame"),
    ("message subject not utf-8", frame(1, fid(0x20), msg("app/x", b'')[:-1] + b'\xff'), "InvalidFrame"),
    ("message invalid subject", frame(1, fid(0x20), msg("invalid/subject", b'')), "ProtocolViolation"),
    ("message foo/bar", frame(1, fid(0x20), msg("foo/bar", b'')), "ProtocolViolation"),
    ("message prefix-style rpc/test", frame(1, fid(0x20), msg("rpc/test", b'')), "ProtocolViolation"),
    ("message prefix-style event/test", frame(1, fid(0x20), msg("event/test", b'')), "ProtocolViolation"),
    ("message empty subject", frame(1, fid(0x20), msg("", b'')), "ProtocolViolation"),
    ("message subject 304 bytes", frame(1, fid(0x20), msg("app/" + "x" * 300, b'')), "ProtocolViolation"),
    ("message emoji subject 284 bytes", frame(1, fid(0x20), msg("app/" + "\U0001F389" * 70, b'')), "ProtocolViolation"),
    ("message subject with NUL", frame(1, fid(0x20), msg("app/test\x00invalid", b'')), "ProtocolViolation"),
    ("ack trailing data", frame(2, fid(0x20), fid(0x80) + b'\x01\x02\x03'), "InvalidFrame"),
    ("ack missing id", frame(2, fid(0x20), b''), "InvalidFrame"),
    ("error incomplete header", frame(3, fid(0x20), b''), "InvalidFrame"),
    ("error incomplete message", frame(3, fid(0x20), b'\xe8\x03' + struct.pack('<I', 10) + b'\x01\x02\x03'), "InvalidFrame"),
    ("error message not utf-8", frame(3, fid(0x20), err(1002, "ab")[:-1] + b'\xc3'), "InvalidFrame"),
]

C = "000102030405060708090a0b0c0d0e0f"
rpc_valid = [
    ("request with params", "rpc", {"t": "r", "m": "getUser", "p": {"id": 1}, "cid": C}),
    ("request without params", "rpc", {"t": "r", "m": "$sideband/info", "cid": C}),
    ("response with result", "rpc", {"t": "R", "cid": C, "result": {"name": "Alice"}}),
    ("response without result", "rpc", {"t": "R", "cid": C}),
    ("error with data", "rpc", {"t": "E", "cid": C, "code": 1101, "message": "Method not found: nope", "data": [1]}),
    ("notification", "event", {"t": "N", "e": "user.joined", "d": {"userId": "123"}}),
    ("notification without data", "event", {"t": "N", "e": "tick"}),
]
rpc_invalid = [
    ("not json", "rpc", "{not json", "InvalidEnvelope"),
    ("not an object", "rpc", "[1,2]", "InvalidEnvelope"),
    ("unknown t", "rpc", '{"t":"X","cid":"%s"}' % C, "InvalidEnvelope"),
    ("missing t", "rpc", '{"cid":"%s"}' % C, "InvalidEnvelope"),
    ("request without m", "rpc", '{"t":"r","cid":"%s"}' % C, "InvalidEnvelope"),
    ("request m not a string", "rpc", '{"t":"r","m":5,"cid":"%s"}' % C, "InvalidEnvelope"),
    ("request without cid", "rpc", '{"t":"r","m":"x"}', "InvalidEnvelope"),
    ("cid too short", "rpc", '{"t":"R","cid":"abc"}', "InvalidEnvelope"),
    ("cid uppercase", "rpc", '{"t":"R","cid":"%s"}' % C.upper().replace("0", "0"), "InvalidEnvelope"),
    ("cid not hex", "rpc", '{"t":"R","cid":"%s"}' % ("g" * 32), "InvalidEnvelope"),
    ("cid not a string", "rpc", '{"t":"R","cid":12}', "InvalidEnvelope"),
    ("error without code", "rpc", '{"t":"E","cid":"%s","message":"m"}' % C, "InvalidEnvelope"),
    ("error code not a number", "rpc", '{"t":"E","cid":"%s","code":"1","message":"m"}' % C, "InvalidEnvelope"),
    ("error without message", "rpc", '{"t":"E","cid":"%s","code":1}' % C, "InvalidEnvelope"),
    ("notification without e", "event", '{"t":"N"}', "InvalidEnvelope"),
    ("request on event", "event", '{"t":"r","m":"x","cid":"%s"}' % C, "EnvelopeMismatch"),
    ("notification on rpc", "rpc", '{"t":"N","e":"x"}', "EnvelopeMismatch"),
    ("anything on stream", "stream", '{"t":"N","e":"x"}', "UnsupportedFeature"),
]
# "cid uppercase" must contain letters: make it so.
rpc_invalid[8] = ("cid uppercase", "rpc", '{"t":"R","cid":"%s"}' % ("AB" * 16), "InvalidEnvelope")

print(json.dumps({
    "sbp_valid": [{"name": n, "hex": b.hex(), "expect": e} for n, b, e in valid],
    "sbp_invalid": [{"name": n, "hex": b.hex(), "code": c} for n, b, c in invalid],
    "rpc_valid": [{"name": n, "subject": s, "json": j} for n, s, j in rpc_valid],
    "rpc_invalid": [{"name": n, "subject": s, "data": d, "code": c} for n, s, d, c in rpc_invalid],
}, indent=1, ensure_ascii=False))
