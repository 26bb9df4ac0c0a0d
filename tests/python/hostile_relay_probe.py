"""Hostile-client measurements against a running `sbrp relay --dev` (127.0.0.1 only).

Usage: python3 hostile_relay_probe.py PID PORT DEVDIR ATTACK [N]
Prints one line per measurement: RSS (kB, /proc/PID/status VmRSS) and relay CPU (ms, utime+stime
from /proc/PID/stat) before and after, and what the relay did. Not a test: docs/relay.md
"Hostile clients" quotes its output.
"""

import asyncio
import os
import struct
import subprocess
import sys
import time

PID, PORT, DEV, ATTACK = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
N = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
SBRP = os.environ.get("SBRP", "target/release/sbrp")
TICK = os.sysconf("SC_CLK_TCK")


def rss():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])


def cpu_ms():
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // TICK


def mint(role, sid=None, did="dev-daemon"):
    args = [SBRP, "token", "mint", "--key", f"{DEV}/issuer.pem", "--role", role, "--did", did]
    if sid is not None:
        args += ["--sid", str(sid)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()
    return out


def upgrade_request(token, extra=b""):
    return (
        b"GET /?token=" + token.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )


async def status_of(req):
    r, w = await asyncio.open_connection("127.0.0.1", PORT)
    w.write(req)
    await w.drain()
    try:
        head = await asyncio.wait_for(r.read(4096), 15)
    except (asyncio.TimeoutError, ConnectionError):
        head = b""
    w.close()
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), head


async def ws_open(token, extra=b""):
    r, w = await asyncio.open_connection("127.0.0.1", PORT)
    w.write(upgrade_request(token, extra))
    await w.drain()
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await asyncio.wait_for(r.read(1), 15)
        if not chunk:
            raise RuntimeError(f"closed during upgrade: {head!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace"))
    return r, w, head


def ws_frame(opcode, payload, fin=True, claimed=None):
    """A masked client frame (mask 0: XOR with zeros leaves the payload as is)."""
    n = len(payload) if claimed is None else claimed
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        hdr = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return hdr + b"\0\0\0\0" + payload


async def read_close(r, limit=30):
    """Reads server frames until a close; returns (close code or None, frames seen)."""
    frames = 0
    try:
        while True:
            h = await asyncio.wait_for(r.readexactly(2), limit)
            op, n = h[0] & 0x0F, h[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await r.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await r.readexactly(8))[0]
            body = await r.readexactly(n)
            frames += 1
            if op == 8:
                return (struct.unpack("!H", body[:2])[0] if len(body) >= 2 else 1005), frames
    except (asyncio.IncompleteReadError, ConnectionError):
        return "eof", frames
    except asyncio.TimeoutError:
        return "timeout", frames


def report(name, before, cpu0, extra):
    print(f"{name}: rss_kb {before} -> {rss()} cpu_ms +{cpu_ms() - cpu0} {extra}", flush=True)


async def slowloris():
    before, cpu0 = rss(), cpu_ms()
    socks = []
    for _ in range(N):
        try:
            r, w = await asyncio.open_connection("127.0.0.1", PORT)
        except OSError as e:
            print("connect failed", e)
            break
        w.write(b"GET /?token=")
        socks.append((r, w))
    await asyncio.sleep(1)
    held = rss()
    daemon = mint("daemon")
    line, _ = await status_of(upgrade_request(daemon))
    print(f"slowloris: {len(socks)} partial requests open, rss_kb {before} -> {held}; "
          f"a legitimate daemon upgrade meanwhile got: {line!r}", flush=True)
    t0 = time.monotonic()
    # trickle one byte per second into every socket
    closed = 0
    while time.monotonic() - t0 < 14:
        for r, w in socks:
            try:
                w.write(b"a")
            except Exception:
                pass
        await asyncio.sleep(1)
    for r, w in socks:
        try:
            data = await asyncio.wait_for(r.read(100), 0.05)
            if data == b"" or data:
                closed += 1
        except (asyncio.TimeoutError,):
            pass
        except ConnectionError:
            closed += 1
    report("slowloris after 14 s", before, cpu0, f"closed_by_relay {closed}/{len(socks)}")
    line, _ = await status_of(upgrade_request(daemon))
    print(f"slowloris: after the cut-off a legitimate upgrade got {line!r}")
    for r, w in socks:
        w.close()


async def bogus():
    before, cpu0 = rss(), cpu_ms()
    good = mint("daemon")
    hdr, payload, sig = good.split(".")
    cases = {
        "garbage": "x" * 200,
        "bad_signature": f"{hdr}.{payload}.{'A' * len(sig)}",
        "token_4097": "a" * 4097,
        "token_60000": "a" * 60000,
    }
    for name, tok in cases.items():
        c0, t0 = cpu_ms(), time.monotonic()
        statuses = {}
        for _ in range(N):
            line, head = await status_of(upgrade_request(tok))
            reason = head.rsplit(b"\r\n\r\n", 1)[-1].strip().decode(errors="replace")
            statuses[(line, reason)] = statuses.get((line, reason), 0) + 1
        dt = time.monotonic() - t0
        print(f"bogus {name}: {N} upgrades in {dt:.2f}s, relay cpu_ms +{cpu_ms() - c0} "
              f"({(cpu_ms() - c0) * 1000 / N:.0f} us each incl. TCP), answers {statuses}", flush=True)
    big = b"X-Pad: " + b"a" * (70 * 1024) + b"\r\n"
    print("header 70 KiB:", (await status_of(upgrade_request(good, big)))[0])
    many = b"".join(b"X-%d: a\r\n" % i for i in range(130))
    print("130 headers:", (await status_of(upgrade_request(good, many)))[0])
    report("bogus total", before, cpu0, "")


async def client_pair(sid):
    d = mint("daemon")
    dr, dw, _ = await ws_open(d)
    c = mint("client", sid)
    return (dr, dw), c


async def ws_level():
    before, cpu0 = rss(), cpu_ms()
    (dr, dw), _ = await client_pair(1)
    results = {}
    # 1: permessage-deflate offer
    r, w, head = await ws_open(mint("client", 101), b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    results["deflate_offer_accepted"] = b"permessage-deflate" in head.lower()
    results["rss1"] = rss()
    w.close()
    # 2: fragments adding up past 65549
    r, w, _ = await ws_open(mint("client", 102))
    w.write(ws_frame(2, b"\0" * 30000, fin=False))
    for _ in range(3):
        w.write(ws_frame(0, b"\0" * 30000, fin=False))
    await w.drain()
    results["fragments_90000"] = (await read_close(r))[0]
    results["rss2"] = rss()
    w.close()
    # 3: a frame header claiming 2^63-1 bytes
    r, w, _ = await ws_open(mint("client", 103))
    w.write(ws_frame(2, b"", claimed=(1 << 63) - 1))
    await w.drain()
    results["frame_claims_2^63"] = (await read_close(r))[0]
    results["rss3"] = rss()
    w.close()
    # 4: a frame header claiming 10 MB, then 10 MB sent
    r, w, _ = await ws_open(mint("client", 104))
    w.write(ws_frame(2, b"", claimed=10_000_000))
    try:
        for _ in range(100):
            w.write(b"\0" * 100_000)
            await asyncio.wait_for(w.drain(), 5)
    except Exception as e:
        results["10MB_send_stopped"] = type(e).__name__
    results["frame_10MB"] = (await read_close(r))[0]
    results["rss4"] = rss()
    w.close()
    # 5: endless continuation frames of empty payload (no length growth)
    r, w, _ = await ws_open(mint("client", 105))
    w.write(ws_frame(2, b"", fin=False))
    for _ in range(N):
        w.write(ws_frame(0, b"", fin=False))
    await w.drain()
    w.write(ws_frame(0, b"", fin=True))
    await w.drain()
    results[f"{N}_empty_continuations"] = (await read_close(r, 5))[0]
    w.close()
    # 6: WebSocket ping flood, never reading
    r, w, _ = await ws_open(mint("client", 106))
    r0, c0 = rss(), cpu_ms()
    ping = ws_frame(9, b"p" * 125)
    sent = 0
    try:
        for _ in range(N):
            w.write(ping * 100)
            sent += 100
            await asyncio.wait_for(w.drain(), 5)
    except Exception as e:
        results["ping_flood_stopped"] = type(e).__name__
    results["ping_flood"] = f"{sent} pings, rss_kb {r0}->{rss()}, cpu_ms +{cpu_ms() - c0}"
    # Is the relay still serving others? a fresh client upgrade
    rr, ww, _ = await ws_open(mint("client", 107))
    results["others_served_during_ping_flood"] = True
    ww.close()
    w.close()
    report("ws_level", before, cpu0, str(results))
    dw.close()


async def never_reads():
    """A daemon floods Data at a client that never reads: the writer's queue bound."""
    before, cpu0 = rss(), cpu_ms()
    pairs = []
    for i in range(N):
        sid = 1000 + i
        d = mint("daemon", did=f"flood-{i}") if False else None
        pairs.append(sid)
    (dr, dw), _ = await client_pair(1)
    clients = []
    for sid in pairs:
        r, w, _ = await ws_open(mint("client", sid))
        clients.append((r, w))
    await asyncio.sleep(0.5)
    frame = struct.pack(">BIQ", 0x03, 65536, 0)  # Data header (type, len, sid)
    peak = rss()
    # Data frames from the daemon to each client, as fast as the rate limit allows
    for rnd in range(int(os.environ.get("ROUNDS", "40"))):
        for sid in pairs:
            msg = struct.pack(">BIQ", 0x03, 65536, sid) + b"\0" * 65536
            dw.write(ws_frame(2, msg))
        try:
            await asyncio.wait_for(dw.drain(), 10)
        except Exception:
            break
        peak = max(peak, rss())
    await asyncio.sleep(2)
    peak = max(peak, rss())
    report("never_reads", before, cpu0, f"clients {len(clients)} peak_rss_kb {peak}")
    for r, w in clients:
        w.close()
    dw.close()


async def storm():
    before, cpu0 = rss(), cpu_ms()
    tok = mint("daemon")
    ok = 0
    live = []
    for i in range(N):
        r, w, _ = await ws_open(tok)
        live.append(w)
        if len(live) > 2:
            live.pop(0).close()
        ok += 1
    await asyncio.sleep(2)
    report("daemon reconnect storm", before, cpu0, f"{ok} replacements")
    for w in live:
        w.close()


async def sessions():
    """One daemon answers frames for many session ids nobody opened."""
    before, cpu0 = rss(), cpu_ms()
    r, w, _ = await ws_open(mint("daemon"))
    for sid in range(1, N + 1):
        w.write(ws_frame(2, struct.pack(">BIQ", 0x03, 16, sid) + b"\0" * 16))
    await w.drain()
    got = 0
    try:
        while True:
            h = await asyncio.wait_for(r.readexactly(2), 3)
            n = h[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await r.readexactly(2))[0]
            await r.readexactly(n)
            got += 1
    except Exception:
        pass
    report("unknown sessions", before, cpu0, f"{N} Data for unknown sids, {got} frames back")
    w.close()


async def metrics():
    mport = int(os.environ["MPORT"])
    before = rss()
    socks = []
    for _ in range(N):
        r, w = await asyncio.open_connection("127.0.0.1", mport)
        w.write(b"GET /metr")
        socks.append((r, w))
    await asyncio.sleep(0.5)
    r, w = await asyncio.open_connection("127.0.0.1", mport)
    w.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        got = await asyncio.wait_for(r.read(200), 15)
    except (asyncio.TimeoutError, ConnectionError) as e:
        got = repr(e).encode()
    print(f"metrics: {N} slow requests held, a scrape got {got[:40]!r}, rss_kb {before}->{rss()}")
    r, w = await asyncio.open_connection("127.0.0.1", mport)
    w.write(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n")
    try:
        got = await asyncio.wait_for(r.read(200), 15)
    except (asyncio.TimeoutError, ConnectionError) as e:
        got = repr(e).encode()
    print(f"metrics: 100 kB header got {got[:40]!r}")
    for r, w in socks:
        w.close()



async def big_frame():
    """A frame header claiming CLAIM bytes (env, default 10 MB), then that many bytes sent."""
    claim = int(os.environ.get("CLAIM", "10000000"))
    (dr, dw), _ = await client_pair(1)
    for i in range(N):
        before = rss()
        r, w, _ = await ws_open(mint("client", 200 + i))
        w.write(ws_frame(2, b"", claimed=claim))
        sent = 0
        try:
            while sent < claim:
                w.write(b"\0" * 100_000)
                sent += 100_000
                await asyncio.wait_for(w.drain(), 5)
        except Exception as e:
            pass
        code = (await read_close(r))[0]
        w.close()
        await asyncio.sleep(0.5)
        print(f"big_frame claim {claim}: sent {sent}, close {code}, rss_kb {before} -> {rss()}", flush=True)
    dw.close()

asyncio.run(globals()[ATTACK]())
