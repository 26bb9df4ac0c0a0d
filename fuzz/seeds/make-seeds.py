#!/usr/bin/env python3
"""Writes the committed seeds of the `relay_core`, `token` and `url_redact` fuzz targets.

Run from the repository root: python3 fuzz/seeds/make-seeds.py
The opcodes are those of fuzz/fuzz_targets/relay_core.rs (`step`); the token seeds are mode
bytes of fuzz/fuzz_targets/token.rs followed by their arguments.
"""
import os
import struct

OPEN_D, OPEN_C, FRAME, RAW, SIGNAL, FLUSH, TICK, CLOSED, TEXT, OVERSIZED, WAIT, TICK0 = range(12)
# FRAME type selectors (t % 8): Init, Accept, Data, Signal, Ping, Pong, Control.
INIT, ACCEPT, DATA, SIG, PING, PONG, CONTROL = range(7)


def daemon(did=0, resumable=False, cap=0, dup=False):
    return bytes([OPEN_D, did | (4 if resumable else 0) | (cap << 3) | (0x80 if dup else 0)])


def client(did=0, sid=1, dup=False):
    return bytes([OPEN_C, did | ((sid - 1) << 2) | (0x80 if dup else 0)])


def frame(conn, ty, sid, payload=b"", lie=None):
    t = ty | (0x80 if lie is not None else 0)
    out = bytes([FRAME, conn, t, sid, len(payload)]) + payload
    return out + (bytes([lie]) if lie is not None else b"")


def signal(conn, sid, kind):
    return bytes([SIGNAL, conn, sid, kind])


# Connections are picked by index into the admitted ids, in admission order.
SEEDS = {
    # A daemon and a client pair, handshake both ways, data both ways, pings, flush, ticks.
    "pair": daemon() + client(sid=1)
    + frame(1, INIT, 1, b"init") + frame(0, ACCEPT, 1, b"accept") + frame(1, DATA, 1, b"c2d")
    + frame(0, DATA, 1, b"d2c") + frame(1, PING, 0, b"12345678") + frame(0, PONG, 0)
    + bytes([FLUSH, 0, 255, FLUSH, 1, 255, TICK, 16, TICK, 16, CLOSED, 1, TICK0]),
    # A resumable daemon drops and comes back; the session goes paused → pending → paired.
    "resume": daemon(resumable=True) + client(sid=2) + frame(1, INIT, 2, b"i")
    + bytes([CLOSED, 0, TICK, 4]) + daemon(resumable=True) + signal(2, 2, 0)
    + frame(2, DATA, 2, b"again") + signal(2, 2, 1) + bytes([TICK, 40]),
    # A daemon that is not resumable drops: the session expires at its return or after grace.
    "expire": daemon(did=1) + client(did=1, sid=3) + client(did=1, sid=4)
    + bytes([CLOSED, 0, TICK, 30, TICK, 30]) + daemon(did=1),
    # The cap (lim 1) and the session-live conflict and max_connections.
    "limits": daemon(did=2, cap=2) + client(did=2, sid=1) + client(did=2, sid=2)
    + client(did=2, sid=1) + client(did=0, sid=1) + client(did=1, sid=1)
    + client(did=2, sid=3) + client(did=2, sid=4) + daemon(dup=True),
    # Frames that break rules: a Control from an endpoint, wrong direction, wrong session,
    # a lying length, raw garbage, text, oversized, a bad Signal.
    "refusals": daemon() + client(sid=1) + client(sid=2) + frame(1, CONTROL, 1, b"\x00\x01")
    + frame(0, INIT, 1, b"x") + frame(2, DATA, 1, b"not mine") + frame(0, DATA, 3, b"nobody", lie=200)
    + bytes([RAW, 0, 5]) + b"\x03\x00\x00" + b"\x00\x00" + signal(0, 1, 2)
    + bytes([TEXT, 1, OVERSIZED, 2]) + frame(0, PING, 0, b"123456789"),
    # A flood over the burst, a slow reader over max_queue, then idle timeout.
    "flood": daemon() + client(sid=1) + b"".join(frame(1, DATA, 1, bytes(23)) for _ in range(12))
    + bytes([TICK, 4]) + b"".join(frame(0, DATA, 1, bytes(23)) for _ in range(8)) + bytes([TICK, 60]),
    # The daemon replaced by a second connection; late frames after the session ended.
    "replace": daemon(did=1, resumable=True) + client(did=1, sid=2) + daemon(did=1)
    + frame(1, DATA, 2, b"late") + frame(2, DATA, 2, b"late") + bytes([CLOSED, 2, WAIT, 255, TICK, 255]),
}

# Token seeds: mode bytes (see token.rs).
TOKEN_SEEDS = {
    "valid-client": bytes([4]),
    "valid-daemon": bytes([0x84]),
    "text-three-parts": b"\x00eyJ0eXAiOiJzYnJwLXJlbGF5K2p3dCIsImFsZyI6IkVkRFNBIiwia2lkIjoiayJ9.e30.AAAA",
    "text-alg-none": b"\x00eyJ0eXAiOiJzYnJwLXJlbGF5K2p3dCIsImFsZyI6Im5vbmUiLCJraWQiOiJrIn0.e30.x",
    "edit-payload": bytes([1, 120, ord("A"), 121, ord("B")]),
    "edit-signature": bytes([0x81, 255, ord("Q")]),
    "signature-empty-sig": bytes([2]),
    "signature-zeros": bytes([2]) + b"A" * 86,
    "insert-space": bytes([3, 0, ord(" ")]),
    "insert-dot": bytes([3, 200, ord(".")]),
}


def write(target, seeds):
    d = os.path.join("fuzz", "seeds", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("relay_core", SEEDS)
write("token", TOKEN_SEEDS)
write("url_redact", {
    "query": b"wss://relay.example/v1/c?region=eu&token=eyJ.abc.def&x=1",
    "userinfo-fragment": b"wss://u:p@relay.example/?a=1&TOKEN=s#frag",
    "encoded-repeated": b"wss://r/?%74oken=s1&to%6Ben=s2&token=s3&token=s4#x=1&%54OKEN=s5",
    "nothing": b"ws://127.0.0.1:1/",
    "odd": b"?token&=&token==&%%74oken=x#?token=y#z",
})
