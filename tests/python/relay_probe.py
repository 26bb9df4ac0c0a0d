"""An independent probe of an SBRP relay: Python `websockets`, no sbrp code.

Usage: relay_probe.py URL < tokens.json

tokens.json: {"did": DAEMON_ID, "daemon": TOKEN, "offline": {"sid": N, "token": TOKEN},
              "clients": [{"sid": N, "token": TOKEN}, ...]}  (at least 9 client tokens for DID)

Builds SBRP frames with its own 13-byte header encoder (type u8, length u32 BE, session id u64
BE), sends them through the relay and checks each reply byte for byte: exact Control frames
(type 0x20, length 2, session id, code), exact Pong payload copies, forwarded frames unchanged,
and the WebSocket close codes of R6 (1008, 1002), 1003 for text and 1009 for oversized messages.
Prints one JSON line {"checks": N, "failures": [...]}; exits 1 when a check failed.
"""

import asyncio
import json
import struct
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

WAIT = 20.0

INIT, ACCEPT, DATA, SIGNAL, PING, PONG, CONTROL = 0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x20
FORBIDDEN = 0x0102
DAEMON_OFFLINE = 0x0202
SESSION_NOT_FOUND = 0x0301
MALFORMED_FRAME = 0x0401
PAYLOAD_TOO_LARGE = 0x0402
INVALID_FRAME_TYPE = 0x0403
INVALID_SESSION_ID = 0x0404
DISALLOWED_SENDER = 0x0405
SESSION_ENDED = 0x1003
SESSION_PAUSED = 0x1001

checks = 0
failures = []


def frame(ftype, sid, payload=b""):
    return struct.pack(">BIQ", ftype, len(payload), sid) + payload


def control(sid, code):
    return frame(CONTROL, sid, struct.pack(">H", code))


def show(b):
    if not isinstance(b, bytes) or len(b) < 13:
        return repr(b)
    t, n, s = struct.unpack(">BIQ", b[:13])
    return f"type=0x{t:02x} len={n} sid={s} payload={b[13:21].hex()}{'...' if len(b) > 21 else ''}"


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        failures.append(what)
    return ok


async def recv(ws):
    """The next message, or ("closed", code), or ("timeout", None)."""
    try:
        return await asyncio.wait_for(ws.recv(), WAIT)
    except ConnectionClosed as e:
        return ("closed", e.rcvd.code if e.rcvd is not None else None)
    except asyncio.TimeoutError:
        return ("timeout", None)


async def expect(ws, want, what):
    got = await recv(ws)
    check(got == want, f"{what}: expected {show(want)}, got {show(got) if isinstance(got, bytes) else got}")


async def expect_close(ws, code, what):
    got = await recv(ws)
    check(got == ("closed", code), f"{what}: expected close {code}, got {show(got) if isinstance(got, bytes) else got}")


async def sync(ws, what, n=[0]):
    """A Ping round trip; returns what arrived before the Pong."""
    n[0] += 1
    payload = b"PY" + struct.pack(">IH", n[0], 0)
    await ws.send(frame(PING, 0, payload))
    before = []
    while True:
        got = await recv(ws)
        if got == frame(PONG, 0, payload):
            return before
        if not isinstance(got, bytes):
            check(False, f"{what}: no Pong ({got}) after {[show(b) for b in before]}")
            return before
        before.append(got)


async def open_ws(url, token, header=False):
    if header:
        return await connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                             max_size=1 << 20, ping_interval=None, open_timeout=WAIT)
    return await connect(f"{url}/?token={token}", max_size=1 << 20, ping_interval=None,
                         open_timeout=WAIT)


async def main():
    url = sys.argv[1]
    cfg = json.load(sys.stdin)
    clients = cfg["clients"]

    daemon = await open_ws(url, cfg["daemon"], header=True)
    check(await sync(daemon, "daemon registered") == [], "daemon: nothing before the first Pong")

    async def client(i):
        ws = await open_ws(url, clients[i]["token"])
        check(await sync(ws, f"client {i}") == [], f"client {i}: nothing before the first Pong")
        return ws, clients[i]["sid"]

    async def daemon_hears_ended(sid, what):
        got = await sync(daemon, what)
        check(got == [control(sid, SESSION_ENDED)],
              f"{what}: the daemon should hear exactly session_ended({sid}), got {[show(b) for b in got]}")

    # 1. Ping → Pong copying the payload, 0 to 8 bytes, never forwarded; then frames both ways.
    ws, sid = await client(0)
    for n in range(9):
        p = bytes((0x30 + 7 * i + n) & 0xFF for i in range(n))
        await ws.send(frame(PING, 0, p))
        await expect(ws, frame(PONG, 0, p), f"Pong for a {n}-byte Ping")
    init = frame(INIT, sid, bytes(range(32)))
    await ws.send(init)
    await expect(daemon, init, "HandshakeInit forwarded unchanged")
    accept = frame(ACCEPT, sid, bytes((i * 11) & 0xFF for i in range(128)))
    await daemon.send(accept)
    await expect(ws, accept, "HandshakeAccept forwarded unchanged")
    big = frame(DATA, sid, bytes(i & 0xFF for i in range(65536)))
    await ws.send(big)
    await expect(daemon, big, "a 65549-byte Data frame forwarded unchanged")
    await daemon.send(big)
    await expect(ws, big, "a 65549-byte Data frame forwarded back unchanged")
    # A Signal from a client: disallowed_sender with the header's session id, close 1002.
    await ws.send(frame(SIGNAL, sid, b"\x00\x00"))
    await expect(ws, control(sid, DISALLOWED_SENDER), "Signal from a client")
    await expect_close(ws, 1002, "after disallowed_sender")
    await daemon_hears_ended(sid, "client 0 refused")

    # 2. Text message: close 1003.
    ws, sid = await client(1)
    await ws.send("not a frame")
    await expect_close(ws, 1003, "text message")
    await daemon_hears_ended(sid, "client 1 closed for text")

    # 3. One byte over the largest frame: close 1009.
    ws, sid = await client(2)
    try:
        await ws.send(frame(DATA, sid, bytes(65537)))
    except ConnectionClosed:
        pass
    await expect_close(ws, 1009, "65550-byte message")
    await daemon_hears_ended(sid, "client 2 closed for size")

    # 4. Data for another session id than the token's sid: forbidden, SID 0, close 1008.
    ws, sid = await client(3)
    await ws.send(frame(DATA, sid + 1, bytes(28)))
    await expect(ws, control(0, FORBIDDEN), "Data for another session")
    await expect_close(ws, 1008, "after forbidden")
    await daemon_hears_ended(sid, "client 3 refused")

    # 5. Header and wire rules: SID 0, close 1002.
    for i, (msg, code, what) in enumerate([
        (frame(DATA, 1)[:9], MALFORMED_FRAME, "9-byte message"),
        (struct.pack(">BIQ", 0x7E, 0x00FFFFFF, 1), PAYLOAD_TOO_LARGE, "unknown type, huge length"),
        (frame(0x7E, 0), INVALID_FRAME_TYPE, "unknown type 0x7e"),
        (frame(PING, 5, b""), INVALID_SESSION_ID, "Ping with a session id"),
    ]):
        ws, sid = await client(4 + i)
        await ws.send(msg)
        await expect(ws, control(0, code), what)
        await expect_close(ws, 1002, f"after {what}")
        await daemon_hears_ended(sid, f"client {4 + i} refused")

    # 6. The daemon: a session never seen is session_not_found (its connection stays open).
    await daemon.send(frame(DATA, 0x7777, bytes(28)))
    await expect(daemon, control(0x7777, SESSION_NOT_FOUND), "Data for an unknown session")
    check(await sync(daemon, "daemon after session_not_found") == [], "daemon still open")

    # 7. A client whose daemon is offline: daemon_offline with its sid, close 1000.
    ws = await open_ws(url, cfg["offline"]["token"])
    await expect(ws, control(cfg["offline"]["sid"], DAEMON_OFFLINE), "daemon offline")
    await expect_close(ws, 1000, "after daemon_offline")

    # 8. The daemon goes away: its client hears session_paused with its sid (not terminal).
    ws, sid = await client(8)
    await daemon.close()
    await expect(ws, control(sid, SESSION_PAUSED), "daemon disconnected")
    check(await sync(ws, "client after session_paused") == [], "client still open while paused")
    await ws.close()

    print(json.dumps({"checks": checks, "failures": failures}), flush=True)
    sys.exit(1 if failures else 0)


asyncio.run(main())
